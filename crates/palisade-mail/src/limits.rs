//! The limits an inbound message must stay within. Each exists because a helpdesk has been taken
//! down by its absence (a mailbox import that kills the scheduler, one HTML mail with thousands of
//! links burning minutes of CPU, timeouts on mails with many attachments); they are checked
//! before the expensive work, and the README lists them.

/// Sizes and counts for one inbound message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The whole message as received, headers included (also the SMTP `SIZE` and DATA limit).
    pub max_message_bytes: usize,
    /// Header fields in the top-level header section.
    pub max_headers: usize,
    /// One header field, unfolded (name, colon and value).
    pub max_header_bytes: usize,
    /// MIME parts in the whole message, nested ones included.
    pub max_parts: usize,
    /// Attachments kept per message; later ones are dropped with a note.
    pub max_attachments: usize,
    /// One attachment's decoded size; larger ones are dropped with a note.
    pub max_attachment_bytes: usize,
    /// All kept attachments of a message together.
    pub max_total_attachment_bytes: usize,
    /// HTML converted to text; a longer HTML body is cut before conversion.
    pub max_html_bytes: usize,
}

impl Default for Limits {
    /// 10 MiB messages (what most providers accept), 500 header fields of at most 16 KiB each,
    /// 200 MIME parts, 20 attachments of at most 5 MiB and 10 MiB together, 1 MiB of HTML.
    fn default() -> Self {
        Self {
            max_message_bytes: 10 * 1024 * 1024,
            max_headers: 500,
            max_header_bytes: 16 * 1024,
            max_parts: 200,
            max_attachments: 20,
            max_attachment_bytes: 5 * 1024 * 1024,
            max_total_attachment_bytes: 10 * 1024 * 1024,
            max_html_bytes: 1024 * 1024,
        }
    }
}
