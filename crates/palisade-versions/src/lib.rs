//! Version schemes with the ordering their ecosystems really use. A version that does not parse is
//! an error, which callers turn into the third verdict, "cannot evaluate", instead of guessing.
//!
//! So far: Debian (`dpkg`). SemVer, Composer and PEP 440 follow with the vulnerability engine.

pub mod debian;
