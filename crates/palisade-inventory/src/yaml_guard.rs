//! A linear pre-scan of YAML input for deep flow nesting (`[[[[…` or `{a: {a: …`), run before
//! the YAML decoder sees the text. libyaml's scanner walks its whole stack of flow levels for
//! every token, so nesting depth *d* over *n* tokens costs *n·d*: half a megabyte of `{"a":`
//! took 47 seconds before the decoder's own recursion limit could refuse it. Lockfiles (pnpm,
//! Yarn Berry) only use flow collections on a single line (`resolution: {integrity: …}`), so
//! the pre-scan refuses flow collections nested deeper than [`MAX_FLOW_DEPTH`] or left open at
//! the end of a line.
//!
//! The scan follows YAML just far enough to know where a flow collection or a quoted scalar can
//! start (at the start of a node: line start, after `: `, `- `, `? `, an anchor or tag, and
//! inside flow after `[`, `{`, `,`, `:`). Where it is unsure it counts brackets rather than skips
//! them, so it can refuse odd but valid YAML, but cannot be made to miss nesting that libyaml
//! sees: every line must end outside flow context, so a misreading never carries past a line.

/// Deepest flow nesting accepted.
pub(crate) const MAX_FLOW_DEPTH: usize = 64;

/// The line and reason of the first refused construct.
pub(crate) fn check(text: &str) -> Result<(), (u32, String)> {
    let mut block_scalar_parent: Option<usize> = None;
    for (idx, raw) in text.split('\n').enumerate() {
        let line_no = u32::try_from(idx + 1).unwrap_or(u32::MAX);
        let line = raw.strip_suffix('\r').unwrap_or(raw).as_bytes();
        let indent = line.iter().take_while(|&&b| b == b' ').count();
        // The content of a `|` or `>` block scalar is text, whatever it looks like.
        if let Some(parent) = block_scalar_parent {
            if line.iter().all(u8::is_ascii_whitespace) || indent > parent {
                continue;
            }
            block_scalar_parent = None;
        }
        match scan_line(line, indent) {
            Ok(LineEnd::Plain) => {}
            Ok(LineEnd::BlockScalar) => block_scalar_parent = Some(indent),
            Err(reason) => return Err((line_no, reason)),
        }
    }
    Ok(())
}

enum LineEnd {
    Plain,
    /// The line ends with a block scalar indicator; more indented lines are its content.
    BlockScalar,
}

fn is_blank(b: Option<&u8>) -> bool {
    matches!(b, None | Some(b' ' | b'\t'))
}

/// Whether a quoted scalar opened at `start` closes on this line.
fn closes_on_line(line: &[u8], start: usize, quote: u8) -> bool {
    let mut i = start + 1;
    while let Some(&b) = line.get(i) {
        if quote == b'"' && b == b'\\' {
            i += 2;
            continue;
        }
        if b == quote {
            if quote == b'\'' && line.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return true;
        }
        i += 1;
    }
    false
}

fn scan_line(line: &[u8], indent: usize) -> Result<LineEnd, String> {
    let mut depth = 0usize;
    let mut node_start = true;
    let mut i = indent;
    // Document markers are followed by a node.
    if line
        .get(i..i + 3)
        .is_some_and(|m| m == b"---" || m == b"...")
        && is_blank(line.get(i + 3))
    {
        i += 3;
    }
    while let Some(&b) = line.get(i) {
        match b {
            b' ' | b'\t' => {}
            b'#' if i == 0 || is_blank(line.get(i - 1)) => break,
            b'\'' | b'"' if node_start => {
                // Inside flow a quote at a node start is always a quoted scalar; in block
                // context it counts only when it closes on this line, so a misread quote can
                // hide no more than the rest of the line.
                if depth > 0 || closes_on_line(line, i, b) {
                    i += 1;
                    loop {
                        match line.get(i) {
                            None => return Err(open_flow()),
                            Some(b'\\') if b == b'"' => i += 2,
                            Some(&q) if q == b => {
                                if b == b'\'' && line.get(i + 1) == Some(&b'\'') {
                                    i += 2;
                                } else {
                                    break;
                                }
                            }
                            Some(_) => i += 1,
                        }
                    }
                }
                node_start = false;
            }
            b'[' | b'{' if depth > 0 || node_start => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return Err(format!(
                        "YAML flow collections nested deeper than {MAX_FLOW_DEPTH} levels"
                    ));
                }
                node_start = true;
            }
            b']' | b'}' if depth > 0 => {
                depth -= 1;
                node_start = false;
            }
            b',' if depth > 0 => node_start = true,
            b':' if depth > 0 || is_blank(line.get(i + 1)) => node_start = true,
            b'-' | b'?' if depth == 0 && node_start && is_blank(line.get(i + 1)) => {}
            // Anchors and tags precede the node they belong to.
            b'&' | b'!' if node_start => {
                while line.get(i + 1).is_some_and(|c| !c.is_ascii_whitespace()) {
                    i += 1;
                }
            }
            b'|' | b'>' if depth == 0 && node_start => {
                let rest = line.get(i + 1..).unwrap_or_default();
                let header = rest
                    .iter()
                    .take_while(|c| matches!(c, b'-' | b'+' | b'0'..=b'9'))
                    .count();
                let after = rest.get(header..).unwrap_or_default();
                let trimmed: Vec<u8> = after
                    .iter()
                    .copied()
                    .skip_while(|c| *c == b' ' || *c == b'\t')
                    .collect();
                if trimmed.is_empty() || trimmed.first() == Some(&b'#') {
                    return Ok(LineEnd::BlockScalar);
                }
                node_start = false;
            }
            _ => node_start = false,
        }
        i += 1;
    }
    if depth > 0 {
        return Err(open_flow());
    }
    Ok(LineEnd::Plain)
}

fn open_flow() -> String {
    "YAML flow collection ([…] or {…}) left open at the end of a line; lockfiles do not write them"
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockfile_yaml_passes() {
        let text = "lockfileVersion: '9.0'\n\
            packages:\n  '@a/b@1.0.0':\n    resolution: {integrity: sha512-x, tarball: 'https://x/[1].tgz'}\n\
            \x20   engines: {node: '>=14'}\n    cpu: [x64, arm64]\n    deprecated: a [b {c\n\
            \x20   k: \"q [ \\\" [\"\n  x: |\n    [[[[ text\n  y: &a !t [1]\n";
        assert_eq!(check(text), Ok(()));
    }

    #[test]
    fn deep_or_open_flow_is_refused() {
        assert_eq!(check(&"[".repeat(65)).map_err(|e| e.0), Err(1));
        assert!(check(&"{\"a\":".repeat(65)).is_err());
        assert!(check("a: [1,\n 2]\n").is_err());
        assert!(check(&format!("a: {}1{}", "[".repeat(64), "]".repeat(64))).is_ok());
        // Quotes in flow do not hide brackets after they close.
        assert!(check(&format!("a: {}", "[ ']]', ".repeat(70))).is_err());
        // A quote that does not close on its line hides nothing.
        assert!(check(&format!("a: b\n  'x\nc: {}", "[".repeat(70))).is_err());
        assert!(check(&format!("a: b, 'x\nc: {}", "[".repeat(70))).is_err());
    }
}
