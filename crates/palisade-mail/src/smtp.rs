//! The SMTP receiver's protocol (RFC 5321, the subset a relaying mail server uses to hand mail on),
//! as a state machine without I/O: the binary's listener reads lines from the socket, feeds them
//! here and writes back the replies. Keeping the protocol pure is what lets every reply, the
//! command order and the size limit be tested without sockets.
//!
//! Supported: EHLO/HELO, MAIL FROM (with the SIZE and BODY parameters), RCPT TO, DATA, RSET, NOOP,
//! VRFY (252, never confirms an address), HELP, QUIT; PIPELINING, SIZE and 8BITMIME are
//! advertised. Not supported: STARTTLS and AUTH (the listener is meant for a relay on the same
//! host or network, loopback by default). The size limit is enforced twice: a SIZE parameter over
//! it is refused at MAIL FROM, and DATA stops keeping bytes as soon as the limit is passed, reads
//! on to the end of the data as RFC 5321 requires, and answers 552.

/// The listener's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpConfig {
    /// The name in the greeting and the EHLO reply.
    pub hostname: String,
    /// Largest message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Most recipients of one message.
    pub max_recipients: usize,
    /// Unknown or out-of-order commands tolerated before the connection is closed.
    pub max_errors: usize,
}

/// One reply: a code and one or more lines of text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn new(code: u16, text: impl Into<String>) -> Self {
        Self {
            code,
            lines: vec![text.into()],
        }
    }

    /// The bytes on the wire: `250-first`, …, `250 last`, each ending in CRLF. Line breaks inside
    /// a text are turned into spaces so a reply can never be split by what it quotes.
    pub fn to_wire(&self) -> Vec<u8> {
        let mut out = String::new();
        let n = self.lines.len();
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i + 1 == n { ' ' } else { '-' };
            let text: String = line
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            out.push_str(&format!("{}{}{}\r\n", self.code, sep, text));
        }
        out.into_bytes()
    }
}

/// A message received: the envelope and the data with dot-stuffing undone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: Vec<u8>,
}

/// What the listener does next.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Write the reply and read the next command.
    Reply(Reply),
    /// Write the reply and close the connection.
    Close(Reply),
    /// Write the reply (354) and read message data with [`Session::data`].
    StartData(Reply),
    /// A whole message arrived: take it in and answer with the outcome ([`Session`] is ready for
    /// the next transaction).
    Message(Envelope),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Start,
    Greeted,
    Mail,
    Rcpt,
    Data,
}

/// One SMTP connection's protocol state.
#[derive(Debug)]
pub struct Session {
    cfg: SmtpConfig,
    state: State,
    from: String,
    rcpts: Vec<String>,
    data: Vec<u8>,
    oversize: bool,
    at_line_start: bool,
    errors: usize,
}

fn path_arg<'a>(rest: &'a str, keyword: &str) -> Option<(&'a str, &'a str)> {
    let rest = rest.trim_start();
    if rest.len() < keyword.len() || !rest[..keyword.len()].eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = rest[keyword.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    Some((&rest[..end], rest[end + 1..].trim()))
}

impl Session {
    pub fn new(cfg: SmtpConfig) -> Self {
        Self {
            cfg,
            state: State::Start,
            from: String::new(),
            rcpts: Vec::new(),
            data: Vec::new(),
            oversize: false,
            at_line_start: true,
            errors: 0,
        }
    }

    pub fn greeting(&self) -> Reply {
        Reply::new(220, format!("{} Palisade ESMTP ready", self.cfg.hostname))
    }

    /// Whether the next input is message data rather than a command.
    pub fn in_data(&self) -> bool {
        self.state == State::Data
    }

    fn reset(&mut self) {
        self.state = State::Greeted;
        self.from.clear();
        self.rcpts.clear();
        self.data = Vec::new();
        self.oversize = false;
        self.at_line_start = true;
    }

    fn error(&mut self, code: u16, text: &str) -> Action {
        self.errors += 1;
        if self.errors > self.cfg.max_errors {
            return Action::Close(Reply::new(421, "4.7.0 too many errors; closing"));
        }
        Action::Reply(Reply::new(code, text))
    }

    /// Handles one command line (its line ending may be included).
    pub fn command(&mut self, line: &[u8]) -> Action {
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end_matches(['\r', '\n']);
        if line.len() > 512 {
            return self.error(500, "5.5.2 line too long");
        }
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        let ok = || Action::Reply(Reply::new(250, "2.0.0 OK"));
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" | "HELO" if rest.trim().is_empty() => {
                self.error(501, "5.5.4 a domain or address is required")
            }
            "EHLO" => {
                self.reset();
                Action::Reply(Reply {
                    code: 250,
                    lines: vec![
                        self.cfg.hostname.clone(),
                        format!("SIZE {}", self.cfg.max_message_bytes),
                        "8BITMIME".into(),
                        "PIPELINING".into(),
                        "ENHANCEDSTATUSCODES".into(),
                    ],
                })
            }
            "HELO" => {
                self.reset();
                Action::Reply(Reply::new(250, self.cfg.hostname.clone()))
            }
            "MAIL" => {
                if self.state == State::Start {
                    return self.error(503, "5.5.1 say EHLO first");
                }
                if self.state != State::Greeted {
                    return self.error(503, "5.5.1 a transaction is already open; RSET first");
                }
                let Some((path, params)) = path_arg(rest, "FROM:") else {
                    return self.error(501, "5.5.4 MAIL FROM:<address> expected");
                };
                for p in params.split_whitespace() {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    if k.eq_ignore_ascii_case("SIZE") {
                        match v.parse::<usize>() {
                            Ok(n) if n > self.cfg.max_message_bytes => {
                                return Action::Reply(Reply::new(
                                    552,
                                    format!(
                                        "5.3.4 the message is larger than the {} byte limit",
                                        self.cfg.max_message_bytes
                                    ),
                                ));
                            }
                            Ok(_) => {}
                            Err(_) => return self.error(501, "5.5.4 SIZE must be a number"),
                        }
                    } else if !k.eq_ignore_ascii_case("BODY") {
                        return self.error(555, "5.5.4 unsupported MAIL parameter");
                    }
                }
                self.from = path.to_owned();
                self.state = State::Mail;
                ok()
            }
            "RCPT" => {
                if !matches!(self.state, State::Mail | State::Rcpt) {
                    return self.error(503, "5.5.1 MAIL first");
                }
                let Some((path, _)) = path_arg(rest, "TO:") else {
                    return self.error(501, "5.5.4 RCPT TO:<address> expected");
                };
                if path.is_empty() {
                    return self.error(501, "5.1.3 an empty recipient");
                }
                if self.rcpts.len() >= self.cfg.max_recipients {
                    return Action::Reply(Reply::new(452, "4.5.3 too many recipients"));
                }
                self.rcpts.push(path.to_owned());
                self.state = State::Rcpt;
                ok()
            }
            "DATA" => {
                if self.state != State::Rcpt {
                    return self.error(503, "5.5.1 RCPT first");
                }
                self.state = State::Data;
                self.data = Vec::new();
                self.oversize = false;
                self.at_line_start = true;
                Action::StartData(Reply::new(354, "end data with <CR><LF>.<CR><LF>"))
            }
            "RSET" => {
                if self.state != State::Start {
                    self.reset();
                }
                ok()
            }
            "NOOP" => ok(),
            "VRFY" => Action::Reply(Reply::new(252, "2.5.0 cannot verify; send the message")),
            "HELP" => Action::Reply(Reply::new(214, "2.0.0 see RFC 5321")),
            "QUIT" => Action::Close(Reply::new(221, "2.0.0 bye")),
            "STARTTLS" | "AUTH" => self.error(502, "5.5.1 not supported here"),
            _ => self.error(500, "5.5.2 command not recognised"),
        }
    }

    /// Handles a piece of message data: a whole line with its line ending, or part of a longer
    /// line (the listener reads lines in bounded pieces). Returns an action once the data ends.
    pub fn data(&mut self, chunk: &[u8]) -> Option<Action> {
        let starts_line = self.at_line_start;
        self.at_line_start = chunk.ends_with(b"\n");
        if starts_line && (chunk == b".\r\n" || chunk == b".\n") {
            let oversize = self.oversize;
            let envelope = Envelope {
                mail_from: std::mem::take(&mut self.from),
                rcpt_to: std::mem::take(&mut self.rcpts),
                data: std::mem::take(&mut self.data),
            };
            self.reset();
            return Some(if oversize {
                Action::Reply(Reply::new(
                    552,
                    format!(
                        "5.3.4 the message is larger than the {} byte limit",
                        self.cfg.max_message_bytes
                    ),
                ))
            } else {
                Action::Message(envelope)
            });
        }
        if self.oversize {
            return None;
        }
        let body = if starts_line && chunk.starts_with(b".") {
            &chunk[1..]
        } else {
            chunk
        };
        if self.data.len() + body.len() > self.cfg.max_message_bytes {
            // Stop keeping bytes at once: the rest is read and thrown away.
            self.oversize = true;
            self.data = Vec::new();
            return None;
        }
        self.data.extend_from_slice(body);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(max: usize) -> Session {
        Session::new(SmtpConfig {
            hostname: "desk.example.net".into(),
            max_message_bytes: max,
            max_recipients: 2,
            max_errors: 3,
        })
    }

    fn code(a: &Action) -> u16 {
        match a {
            Action::Reply(r) | Action::Close(r) | Action::StartData(r) => r.code,
            Action::Message(_) => 0,
        }
    }

    #[test]
    fn a_transaction_delivers_the_unstuffed_data() {
        let mut s = session(1000);
        assert_eq!(code(&s.command(b"MAIL FROM:<a@b.example>\r\n")), 503);
        let ehlo = s.command(b"EHLO relay.example\r\n");
        let Action::Reply(r) = &ehlo else {
            panic!("{ehlo:?}")
        };
        assert!(String::from_utf8_lossy(&r.to_wire()).contains("250-SIZE 1000\r\n"));
        assert_eq!(code(&s.command(b"DATA\r\n")), 503);
        assert_eq!(
            code(&s.command(b"MAIL FROM:<a@b.example> BODY=8BITMIME SIZE=10\r\n")),
            250
        );
        assert_eq!(code(&s.command(b"RCPT TO:<desk@d.example>\r\n")), 250);
        assert_eq!(code(&s.command(b"RCPT TO:<two@d.example>\r\n")), 250);
        assert_eq!(code(&s.command(b"RCPT TO:<three@d.example>\r\n")), 452);
        assert_eq!(code(&s.command(b"DATA\r\n")), 354);
        assert!(s.in_data());
        for chunk in [
            &b"Subject: x\r\n"[..],
            b"\r\n",
            b"..leading dot\r\n",
            b"long line pa",
            b"rt .\r\n",
        ] {
            assert_eq!(s.data(chunk), None);
        }
        let Some(Action::Message(m)) = s.data(b".\r\n") else {
            panic!("message")
        };
        assert_eq!(m.mail_from, "a@b.example");
        assert_eq!(m.rcpt_to, ["desk@d.example", "two@d.example"]);
        assert_eq!(
            m.data,
            b"Subject: x\r\n\r\n.leading dot\r\nlong line part .\r\n"
        );
        assert!(!s.in_data());
        assert_eq!(code(&s.command(b"QUIT\r\n")), 221);
    }

    #[test]
    fn the_size_limit_holds_at_mail_from_and_during_data() {
        let mut s = session(20);
        s.command(b"EHLO r.example\r\n");
        assert_eq!(
            code(&s.command(b"MAIL FROM:<a@b.example> SIZE=21\r\n")),
            552
        );
        assert_eq!(code(&s.command(b"MAIL FROM:<a@b.example>\r\n")), 250);
        s.command(b"RCPT TO:<d@d.example>\r\n");
        s.command(b"DATA\r\n");
        for _ in 0..100 {
            assert_eq!(s.data(b"0123456789\r\n"), None);
        }
        assert!(s.data.is_empty(), "nothing kept past the limit");
        assert_eq!(s.data(b".\r\n").as_ref().map(code), Some(552));
        // The connection goes on with a fresh transaction.
        assert_eq!(code(&s.command(b"MAIL FROM:<a@b.example>\r\n")), 250);
    }

    #[test]
    fn repeated_errors_close_the_connection() {
        let mut s = session(20);
        assert_eq!(code(&s.command(b"BOGUS\r\n")), 500);
        assert_eq!(code(&s.command(b"STARTTLS\r\n")), 502);
        assert_eq!(code(&s.command(b"EHLO\r\n")), 501);
        assert!(matches!(s.command(b"BOGUS\r\n"), Action::Close(r) if r.code == 421));
    }

    #[test]
    fn replies_cannot_be_split_by_what_they_quote() {
        let r = Reply::new(550, "5.7.1 refused: x\r\n250 fake");
        assert_eq!(r.to_wire(), b"550 5.7.1 refused: x  250 fake\r\n");
    }
}
