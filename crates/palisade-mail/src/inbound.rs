//! Inbound messages: from raw RFC 5322 bytes to what the desk stores, or a [`Refusal`].
//!
//! The checks run cheapest first: the size, then a scan of the raw header section (field count
//! and length, duplicated fields that must be single, several From fields), and only then the full
//! MIME parse by `mail-parser`, whose part count is checked before any body is converted. Headers
//! are checked on the raw bytes because a parser that merges or picks among duplicates would hide
//! exactly the ambiguity a forger relies on ("which From did the desk believe?").
//!
//! Bodies: a `text/plain` part is preferred; an HTML-only message is converted to plain text
//! (`html2text`, which drops scripts, styles and markup), so nothing executable is ever stored or
//! shown. Attachments over a limit are dropped, not fatal: the customer's message still becomes a
//! ticket message, with a note naming each dropped file and why, so staff can ask for it another
//! way ([`Dropped`]).

use mail_parser::{MessageParser, MimeHeaders};
use palisade_desk::ticket::{MAX_BODY_BYTES, MAX_SUBJECT_CHARS};

use crate::address::normalise_address;
use crate::{Limits, Refusal, RefusalCode};

/// Header fields RFC 5322 allows at most once; a second one is refused as forged.
const SINGLE_FIELDS: &[&str] = &[
    "sender",
    "reply-to",
    "to",
    "cc",
    "message-id",
    "in-reply-to",
    "references",
    "subject",
    "date",
    "auto-submitted",
    "return-path",
];

/// Most Message-IDs kept from In-Reply-To and References (the newest ones).
const MAX_REFERENCES: usize = 100;
/// Longest attachment file name kept, in characters.
const MAX_FILENAME_CHARS: usize = 200;

/// A message the desk can take in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inbound {
    /// The From address, normalised (see [`normalise_address`]).
    pub from: String,
    /// Its Message-ID without angle brackets, when it has a usable one.
    pub message_id: Option<String>,
    /// One line, control characters removed, at most the desk's subject length; never empty.
    pub subject: String,
    /// Message-IDs from In-Reply-To then References (newest first), without angle brackets.
    pub references: Vec<String>,
    /// The message text: the plain-text part, or the HTML part converted to text, with notes
    /// about anything dropped appended. Never empty, at most the desk's body length.
    pub body: String,
    /// Whether the text came from HTML (markup and scripts removed).
    pub from_html: bool,
    pub attachments: Vec<Attachment>,
    pub dropped: Vec<Dropped>,
    /// The raw size in bytes.
    pub size: usize,
}

/// An attachment kept.
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    /// A file name without path separators or control characters.
    pub filename: String,
    /// `type/subtype` as declared (never trusted for display: downloads are served as
    /// attachments).
    pub content_type: String,
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("filename", &self.filename)
            .field("content_type", &self.content_type)
            .field("bytes", &self.data.len())
            .finish()
    }
}

/// An attachment not kept, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Dropped {
    pub filename: String,
    pub bytes: usize,
    pub reason: String,
}

fn refuse(code: RefusalCode, message: impl Into<String>) -> Refusal {
    Refusal::new(code, message)
}

/// Parses `raw` within `limits`.
pub fn parse(raw: &[u8], limits: &Limits) -> Result<Inbound, Refusal> {
    if raw.len() > limits.max_message_bytes {
        return Err(refuse(
            RefusalCode::TooBig,
            format!(
                "the message is {} bytes; the limit is {} bytes",
                raw.len(),
                limits.max_message_bytes
            ),
        ));
    }
    check_header_section(raw, limits)?;
    let message = MessageParser::default()
        .parse(raw)
        .ok_or_else(|| refuse(RefusalCode::Malformed, "not an RFC 5322 message"))?;
    if message.parts.len() > limits.max_parts {
        return Err(refuse(
            RefusalCode::TooManyParts,
            format!(
                "the message has {} MIME parts; the limit is {}",
                message.parts.len(),
                limits.max_parts
            ),
        ));
    }
    check_automatic(&message)?;

    let from = sender(&message)?;
    let message_id = message.message_id().and_then(clean_id);
    let mut references: Vec<String> = Vec::new();
    for header in [message.in_reply_to(), message.references()] {
        let ids: Vec<&str> = match header {
            mail_parser::HeaderValue::Text(t) => vec![t.as_ref()],
            mail_parser::HeaderValue::TextList(l) => l.iter().rev().map(|t| t.as_ref()).collect(),
            _ => Vec::new(),
        };
        for id in ids.into_iter().filter_map(clean_id) {
            if !references.contains(&id) && references.len() < MAX_REFERENCES {
                references.push(id);
            }
        }
    }
    let subject = one_line(message.subject().unwrap_or(""), MAX_SUBJECT_CHARS);
    let subject = if subject.is_empty() {
        "(no subject)".to_owned()
    } else {
        subject
    };

    let (text, from_html) = body_text(&message, limits);
    let (attachments, dropped) = attachments(&message, limits);
    let body = compose_body(&text, from_html, &attachments, &dropped);
    Ok(Inbound {
        from,
        message_id,
        subject,
        references,
        body,
        from_html,
        attachments,
        dropped,
        size: raw.len(),
    })
}

/// The raw header section: where it ends, how many fields, how long each, and which appear
/// twice. An mbox `From ` separator line at the very start (as `.eml` exports sometimes keep) is
/// skipped.
fn check_header_section(raw: &[u8], limits: &Limits) -> Result<(), Refusal> {
    let mut rest = raw;
    if rest.starts_with(b"From ") {
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        rest = &rest[(end + 1).min(rest.len())..];
    }
    let mut fields = 0usize;
    let mut current_len = 0usize;
    let mut seen: Vec<String> = Vec::new();
    for line in rest.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.contains(&0) {
            return Err(refuse(
                RefusalCode::Malformed,
                "a header field contains a NUL byte",
            ));
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if fields == 0 {
                return Err(refuse(
                    RefusalCode::Malformed,
                    "the message starts with a continuation line",
                ));
            }
            current_len += line.len();
        } else {
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                return Err(refuse(
                    RefusalCode::Malformed,
                    format!("header line {} is not a field (no colon)", fields + 1),
                ));
            };
            let name = &line[..colon];
            if name.is_empty() || !name.iter().all(|b| b.is_ascii_graphic()) {
                return Err(refuse(
                    RefusalCode::Malformed,
                    format!("header line {} has an invalid field name", fields + 1),
                ));
            }
            fields += 1;
            if fields > limits.max_headers {
                return Err(refuse(
                    RefusalCode::HeadersTooLarge,
                    format!("more than {} header fields", limits.max_headers),
                ));
            }
            current_len = line.len();
            let name = String::from_utf8_lossy(name).to_ascii_lowercase();
            if seen.contains(&name) {
                if name == "from" {
                    return Err(refuse(
                        RefusalCode::MultipleFrom,
                        "the message has several From fields: who wrote it is ambiguous",
                    ));
                }
                if SINGLE_FIELDS.contains(&name.as_str()) {
                    return Err(refuse(
                        RefusalCode::ForgedHeaders,
                        format!("the {name} field appears more than once"),
                    ));
                }
            } else {
                seen.push(name);
            }
        }
        if current_len > limits.max_header_bytes {
            return Err(refuse(
                RefusalCode::HeadersTooLarge,
                format!(
                    "a header field is longer than {} bytes",
                    limits.max_header_bytes
                ),
            ));
        }
    }
    if fields == 0 {
        return Err(refuse(
            RefusalCode::Malformed,
            "the message has no header fields",
        ));
    }
    if !seen.iter().any(|n| n == "from") {
        return Err(refuse(
            RefusalCode::NoSender,
            "the message has no From field",
        ));
    }
    Ok(())
}

/// Auto-replies, bounces and bulk mail are never ticketed: an acknowledgement sent back to an
/// out-of-office reply starts a loop that only a full mailbox ends.
fn check_automatic(message: &mail_parser::Message<'_>) -> Result<(), Refusal> {
    let raw = |name: &str| {
        message
            .header_raw(name)
            .map(|v| v.trim().to_ascii_lowercase())
    };
    if let Some(v) = raw("Auto-Submitted")
        && v.split(';').next().map(str::trim) != Some("no")
    {
        return Err(refuse(
            RefusalCode::AutoReply,
            format!("an automatic message (Auto-Submitted: {v})"),
        ));
    }
    if let Some(v) = raw("Precedence")
        && ["bulk", "junk", "list", "auto_reply"].contains(&v.as_str())
    {
        return Err(refuse(
            RefusalCode::AutoReply,
            format!("bulk or automatic mail (Precedence: {v})"),
        ));
    }
    for name in ["X-Autoreply", "X-Autorespond"] {
        if raw(name).is_some() {
            return Err(refuse(
                RefusalCode::AutoReply,
                format!("an automatic reply ({name})"),
            ));
        }
    }
    if let Some(v) = raw("Return-Path")
        && v.trim_matches(|c: char| c == '<' || c == '>' || c.is_whitespace())
            .is_empty()
    {
        return Err(refuse(
            RefusalCode::AutoReply,
            "a bounce or notification (empty Return-Path)",
        ));
    }
    if let Some(ct) = message.content_type()
        && ct.c_type.eq_ignore_ascii_case("multipart")
        && ct
            .c_subtype
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("report"))
    {
        return Err(refuse(
            RefusalCode::AutoReply,
            "a delivery or read report (multipart/report)",
        ));
    }
    Ok(())
}

/// The one From address. Several addresses (or a group) in From are refused like several From
/// fields: the desk must know exactly who is asking.
fn sender(message: &mail_parser::Message<'_>) -> Result<String, Refusal> {
    let Some(from) = message.from() else {
        return Err(refuse(
            RefusalCode::NoSender,
            "the From field holds no address",
        ));
    };
    let addresses: Vec<&str> = from.iter().filter_map(|a| a.address()).collect();
    if addresses.len() > 1 {
        return Err(refuse(
            RefusalCode::MultipleFrom,
            "the From field names several addresses: who wrote it is ambiguous",
        ));
    }
    let Some(address) = addresses.first() else {
        return Err(refuse(
            RefusalCode::NoSender,
            "the From field holds no address",
        ));
    };
    let address = normalise_address(address);
    let plausible = address.len() <= crate::address::MAX_ADDRESS_CHARS
        && address.matches('@').count() == 1
        && !address.starts_with('@')
        && !address.ends_with('@')
        && !address.chars().any(|c| c.is_whitespace() || c.is_control());
    if !plausible {
        return Err(refuse(
            RefusalCode::NoSender,
            "the From field does not hold a usable address",
        ));
    }
    Ok(address)
}

/// A Message-ID without its angle brackets, if it is one token of printable text.
fn clean_id(id: &str) -> Option<String> {
    let id = id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    (!id.is_empty()
        && id.len() <= 998
        && id
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '<' && c != '>'))
    .then(|| id.to_owned())
}

/// One line of at most `max` characters: control characters (line breaks included) become
/// spaces, runs of spaces one.
pub(crate) fn one_line(text: &str, max: usize) -> String {
    let mut out = String::new();
    for word in text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out.chars().take(max).collect()
}

/// Text without control characters other than newlines and tabs, with `\n` line ends.
fn clean_text(text: &str) -> String {
    text.replace("\r\n", "\n")
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect::<String>()
        .trim()
        .to_owned()
}

fn cut(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The message text and whether it came from HTML.
fn body_text(message: &mail_parser::Message<'_>, limits: &Limits) -> (String, bool) {
    let plain = message
        .text_bodies()
        .find(|p| p.is_text() && !p.is_text_html())
        .and_then(|p| p.text_contents());
    if let Some(text) = plain {
        return (clean_text(text), false);
    }
    let html = message
        .html_bodies()
        .find(|p| p.is_text_html())
        .and_then(|p| p.text_contents());
    match html {
        Some(html) => {
            let html = cut(html, limits.max_html_bytes);
            let text = html2text::from_read(html.as_bytes(), 100).unwrap_or_default();
            (clean_text(&text), true)
        }
        None => (String::new(), false),
    }
}

/// A file name that is only a name: the last path component, no control characters, at most
/// 200 characters; `attachment-N` when there is none.
fn file_name(declared: Option<&str>, n: usize) -> String {
    let name = declared
        .unwrap_or("")
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("");
    let name = one_line(name, MAX_FILENAME_CHARS);
    let name = name.trim_start_matches('.').trim();
    if name.is_empty() {
        format!("attachment-{n}")
    } else {
        name.to_owned()
    }
}

fn attachments(
    message: &mail_parser::Message<'_>,
    limits: &Limits,
) -> (Vec<Attachment>, Vec<Dropped>) {
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    let mut total = 0usize;
    for (i, part) in message.attachments().enumerate() {
        let filename = file_name(part.attachment_name(), i + 1);
        let data = part.contents();
        let content_type = part
            .content_type()
            .map(|ct| match &ct.c_subtype {
                Some(sub) => format!("{}/{}", ct.c_type, sub),
                None => ct.c_type.to_string(),
            })
            .map(|ct| one_line(&ct.to_ascii_lowercase(), 100))
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        let drop = |reason: String| Dropped {
            filename: filename.clone(),
            bytes: data.len(),
            reason,
        };
        if kept.len() >= limits.max_attachments {
            dropped.push(drop(format!(
                "more than {} attachments in one message",
                limits.max_attachments
            )));
        } else if data.len() > limits.max_attachment_bytes {
            dropped.push(drop(format!(
                "larger than the {} limit for one attachment",
                human_bytes(limits.max_attachment_bytes)
            )));
        } else if total + data.len() > limits.max_total_attachment_bytes {
            dropped.push(drop(format!(
                "the message's attachments together exceed {}",
                human_bytes(limits.max_total_attachment_bytes)
            )));
        } else {
            total += data.len();
            kept.push(Attachment {
                filename,
                content_type,
                data: data.to_vec(),
            });
        }
    }
    (kept, dropped)
}

/// `5 MiB`, `300 KiB`, `12 bytes`.
pub fn human_bytes(n: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= MIB {
        format!("{:.1} MiB", n as f64 / MIB as f64)
    } else if n >= 1024 {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

/// The stored message: the text (cut to fit), then one note per dropped attachment, so staff
/// reading the ticket know a file is missing and why.
fn compose_body(text: &str, from_html: bool, kept: &[Attachment], dropped: &[Dropped]) -> String {
    let mut notes = String::new();
    if from_html {
        notes.push_str(
            "\n\n[Palisade: converted from HTML; formatting, images and scripts removed.]",
        );
    }
    // Every dropped file is named up to a point; a message of hundreds of parts is summarised.
    for d in dropped.iter().take(20) {
        notes.push_str(&format!(
            "\n\n[Palisade: attachment \"{}\" ({}) was not stored: {}.]",
            d.filename,
            human_bytes(d.bytes),
            d.reason
        ));
    }
    if dropped.len() > 20 {
        notes.push_str(&format!(
            "\n\n[Palisade: {} more attachments were not stored.]",
            dropped.len() - 20
        ));
    }
    let text = if text.is_empty() {
        if kept.is_empty() && dropped.is_empty() {
            "(no message text)"
        } else {
            "(no message text; see the attachments)"
        }
    } else {
        text
    };
    let room = MAX_BODY_BYTES.saturating_sub(notes.len() + 64);
    let mut body = cut(text, room).to_owned();
    if body.len() < text.len() {
        body.push_str(&format!(
            "\n\n[Palisade: the message was cut at {} of its {}.]",
            human_bytes(body.len()),
            human_bytes(text.len())
        ));
    }
    body.push_str(&notes);
    body
}
