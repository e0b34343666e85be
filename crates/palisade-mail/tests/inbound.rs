//! Inbound parsing against good, malformed, oversized and hostile messages: each good one is
//! taken in, each bad one refused with its reason code, HTML never survives as markup, and no
//! input at all makes the parser panic.

use palisade_mail::{Limits, RefusalCode, parse};
use proptest::prelude::*;

fn msg(headers: &str, body: &str) -> Vec<u8> {
    format!("{headers}\r\n\r\n{body}").into_bytes()
}

fn code(raw: &[u8]) -> RefusalCode {
    parse(raw, &Limits::default()).expect_err("refused").code
}

const GOOD: &str = "From: Jane Doe <Jane@Acme.example>\r\nTo: desk@provider.example\r\n\
    Subject: Re: [#7] Checkout\r\n =?utf-8?q?fails?=\r\nMessage-ID: <m2@acme.example>\r\n\
    In-Reply-To: <n1@provider.example>\r\nReferences: <root@provider.example> <n1@provider.example>";

#[test]
fn a_plain_message_is_taken_in() {
    let m = parse(&msg(GOOD, "Still failing.\r\nThanks"), &Limits::default()).expect("good");
    assert_eq!(m.from, "jane@acme.example");
    assert_eq!(m.subject, "Re: [#7] Checkout fails");
    assert_eq!(m.message_id.as_deref(), Some("m2@acme.example"));
    assert_eq!(
        m.references,
        ["n1@provider.example", "root@provider.example"]
    );
    assert_eq!(m.body, "Still failing.\nThanks");
    assert!(!m.from_html);
}

#[test]
fn html_is_turned_into_text_and_scripts_are_gone() {
    let html = "From: jane@acme.example\r\nSubject: hi\r\nContent-Type: text/html; charset=utf-8";
    let body = "<html><head><script>alert('x')</script><style>p{}</style></head>\
        <body><p>Hello <b>desk</b></p><img src=x onerror=alert(1)><a href=\"javascript:alert(2)\">click</a></body></html>";
    let m = parse(&msg(html, body), &Limits::default()).expect("html");
    assert!(m.from_html);
    assert!(
        m.body.contains("Hello") && m.body.contains("desk"),
        "{}",
        m.body
    );
    for bad in ["<script", "alert('x')", "<p>", "<img", "onerror", "<b>"] {
        assert!(!m.body.contains(bad), "{bad} in {}", m.body);
    }
    // With both parts the plain text wins.
    let alt = "From: jane@acme.example\r\nSubject: hi\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/alternative; boundary=b";
    let body = "--b\r\nContent-Type: text/plain\r\n\r\nplain words\r\n--b\r\n\
        Content-Type: text/html\r\n\r\n<p>html words<script>x()</script></p>\r\n--b--\r\n";
    let m = parse(&msg(alt, body), &Limits::default()).expect("alternative");
    assert_eq!(m.body, "plain words");
    assert!(!m.from_html);
}

#[test]
fn forged_ambiguous_and_automatic_messages_are_refused_with_their_reason() {
    let two_from = "From: jane@acme.example\r\nFrom: boss@acme.example\r\nSubject: pay";
    assert_eq!(code(&msg(two_from, "x")), RefusalCode::MultipleFrom);
    let two_in_one = "From: jane@acme.example, boss@acme.example\r\nSubject: pay";
    assert_eq!(code(&msg(two_in_one, "x")), RefusalCode::MultipleFrom);
    let two_subjects = "From: jane@acme.example\r\nSubject: a\r\nSubject: b";
    assert_eq!(code(&msg(two_subjects, "x")), RefusalCode::ForgedHeaders);
    let two_ids =
        "From: jane@acme.example\r\nMessage-ID: <a@x.example>\r\nMessage-ID: <b@x.example>";
    assert_eq!(code(&msg(two_ids, "x")), RefusalCode::ForgedHeaders);
    assert_eq!(code(&msg("Subject: no sender", "x")), RefusalCode::NoSender);
    assert_eq!(code(&msg("From: nobody", "x")), RefusalCode::NoSender);
    for auto in [
        "Auto-Submitted: auto-replied",
        "Precedence: bulk",
        "Return-Path: <>",
        "X-Autoreply: yes",
        "Content-Type: multipart/report; report-type=delivery-status; boundary=z",
    ] {
        let h = format!("From: jane@acme.example\r\nSubject: Out of office\r\n{auto}");
        assert_eq!(
            code(&msg(&h, "I am away")),
            RefusalCode::AutoReply,
            "{auto}"
        );
    }
    // Auto-Submitted: no is a person.
    let person = "From: jane@acme.example\r\nAuto-Submitted: no\r\nSubject: hi";
    assert!(parse(&msg(person, "x"), &Limits::default()).is_ok());
}

#[test]
fn malformed_and_oversized_messages_are_refused() {
    assert_eq!(code(b""), RefusalCode::Malformed);
    assert_eq!(code(b"\x00\x01\x02binary junk"), RefusalCode::Malformed);
    assert_eq!(
        code(b"not a header line\r\n\r\nbody"),
        RefusalCode::Malformed
    );
    assert_eq!(
        code(b" continuation first\r\nFrom: a@b.example\r\n\r\n"),
        RefusalCode::Malformed
    );
    let limits = Limits {
        max_message_bytes: 1000,
        ..Limits::default()
    };
    let huge = msg("From: jane@acme.example", &"x".repeat(2000));
    assert_eq!(
        parse(&huge, &limits).expect_err("big").code,
        RefusalCode::TooBig
    );
    let many: String = (0..600).map(|i| format!("X-H{i}: v\r\n")).collect();
    assert_eq!(
        code(&msg(
            &format!("From: jane@acme.example\r\n{many}Subject: s"),
            "x"
        )),
        RefusalCode::HeadersTooLarge
    );
    let long = format!("From: jane@acme.example\r\nX-Long: {}", "a".repeat(20_000));
    assert_eq!(code(&msg(&long, "x")), RefusalCode::HeadersTooLarge);
}

#[test]
fn attachments_over_a_limit_are_dropped_with_a_note_and_the_rest_kept() {
    let limits = Limits {
        max_attachment_bytes: 100,
        max_attachments: 2,
        ..Limits::default()
    };
    let headers = "From: jane@acme.example\r\nSubject: logs\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=b";
    let part = |name: &str, body: &str| {
        format!(
            "--b\r\nContent-Type: application/octet-stream\r\n\
             Content-Disposition: attachment; filename=\"{name}\"\r\n\r\n{body}\r\n"
        )
    };
    let body = format!(
        "--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n{}{}{}{}--b--\r\n",
        part("../../etc/small.log", "tiny"),
        part("big.bin", &"B".repeat(500)),
        part("second.txt", "also small"),
        part("third.txt", "one too many"),
    );
    let m = parse(&msg(headers, &body), &limits).expect("taken in");
    let names: Vec<&str> = m.attachments.iter().map(|a| a.filename.as_str()).collect();
    assert_eq!(
        names,
        ["small.log", "second.txt"],
        "path stripped, big and extra dropped"
    );
    assert_eq!(m.attachments[0].data, b"tiny");
    assert_eq!(m.dropped.len(), 2);
    assert!(m.body.starts_with("see attached"));
    assert!(
        m.body
            .contains("\"big.bin\" (500 bytes) was not stored: larger than"),
        "{}",
        m.body
    );
    assert!(m.body.contains("\"third.txt\"") && m.body.contains("more than 2 attachments"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse(&raw, &Limits::default());
    }

    #[test]
    fn arbitrary_headers_and_bodies_never_panic(h in "[ -~\t]{0,200}", b in "\\PC{0,400}") {
        let raw = format!("From: a@b.example\r\n{h}\r\n\r\n{b}");
        if let Ok(m) = parse(raw.as_bytes(), &Limits::default()) {
            prop_assert!(!m.body.is_empty());
            prop_assert!(!m.subject.contains('\n'));
        }
    }
}
