//! The wire format between a pool's worker thread and its worker process:
//! pure functions over bytes, so that what a (possibly broken or hostile)
//! worker sends is checked in one place, unit-tested and fuzzed.
//!
//! A frame is a 4-byte little-endian body length, then the body: a tag
//! byte and its payload. The length is checked against a limit *before*
//! anything is allocated for the body.
//!
//! | direction | tag | payload |
//! |---|---|---|
//! | to the worker | [`TAG_CALL`] | name length (u16 LE), job name (UTF-8), input bytes |
//! | from the worker | [`TAG_HELLO`] | token (u64 LE), pid (u32 LE): the first frame, once set up |
//! | from the worker | [`TAG_INIT_FAILED`] | why (UTF-8): the first frame, if set-up failed |
//! | from the worker | [`TAG_OK`] | output bytes |
//! | from the worker | [`TAG_PANICKED`] | panic message (UTF-8) |
//! | from the worker | [`TAG_UNKNOWN_JOB`] | job name (UTF-8) |
//! | from the worker | [`TAG_BAD_INPUT`] | why the input did not decode (UTF-8) |
//! | from the worker | [`TAG_BAD_OUTPUT`] | why the output did not encode (UTF-8) |
//!
//! ```
//! use leasepool::process::frame::{self, Reply};
//!
//! let mut wire = Vec::new();
//! frame::encode_reply(&Reply::Ok(b"42"), &mut wire);
//! let (body, used) = frame::split(&wire, 1024).unwrap().expect("a whole frame");
//! assert_eq!(used, wire.len());
//! assert_eq!(frame::decode_reply(body).unwrap(), Reply::Ok(b"42"));
//! ```

use std::fmt;

/// Bytes of the length header in front of every body.
pub const HEADER: usize = 4;
/// A job call (to the worker).
pub const TAG_CALL: u8 = 1;
/// The job's serialized output.
pub const TAG_OK: u8 = 2;
/// The job panicked; the worker lives on.
pub const TAG_PANICKED: u8 = 3;
/// The worker has no job of that name.
pub const TAG_UNKNOWN_JOB: u8 = 4;
/// The input did not deserialize into the job's input type.
pub const TAG_BAD_INPUT: u8 = 5;
/// The output did not serialize.
pub const TAG_BAD_OUTPUT: u8 = 6;
/// The worker is set up: its token and pid.
pub const TAG_HELLO: u8 = 16;
/// The worker's set-up failed.
pub const TAG_INIT_FAILED: u8 = 17;

/// Why bytes are not a valid frame.
///
/// ```
/// use leasepool::process::frame::{self, FrameError};
/// let err = frame::split(&[0xff, 0xff, 0xff, 0x7f], 1024).unwrap_err();
/// assert!(matches!(err, FrameError::Oversized { .. }));
/// assert!(err.to_string().contains("1024"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// The header announces a body above the limit.
    Oversized {
        /// The announced body length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A body with no tag byte.
    Empty,
    /// A tag this side does not expect.
    UnknownTag(u8),
    /// A payload shorter than its fields.
    Short(&'static str),
    /// A text field that is not UTF-8.
    NotUtf8(&'static str),
    /// Bytes after the last field of a fixed-size payload.
    Trailing(&'static str),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Oversized { len, max } => {
                write!(f, "frame of {len} bytes is over the limit of {max} bytes")
            }
            FrameError::Empty => f.write_str("empty frame (no tag byte)"),
            FrameError::UnknownTag(tag) => write!(f, "unexpected frame tag {tag}"),
            FrameError::Short(what) => write!(f, "frame too short for its {what}"),
            FrameError::NotUtf8(what) => write!(f, "the frame's {what} is not UTF-8"),
            FrameError::Trailing(what) => write!(f, "bytes after the {what} frame's last field"),
        }
    }
}

impl std::error::Error for FrameError {}

/// A frame from the worker, borrowing the body it was decoded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    /// Set up: the token it was given, and its pid.
    Hello {
        /// The token the parent passed in the worker's environment.
        token: u64,
        /// The worker's process id.
        pid: u32,
    },
    /// Set-up failed (the pool is broken).
    InitFailed(&'a str),
    /// The job's serialized output.
    Ok(&'a [u8]),
    /// The job panicked with this message.
    Panicked(&'a str),
    /// No job of this name is registered in the worker.
    UnknownJob(&'a str),
    /// The input did not deserialize in the worker.
    BadInput(&'a str),
    /// The output did not serialize in the worker.
    BadOutput(&'a str),
}

/// A frame to the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call<'a> {
    /// The job's [`ProcessJob::NAME`](super::ProcessJob::NAME).
    pub name: &'a str,
    /// The serialized input.
    pub input: &'a [u8],
}

/// The first whole frame in `buf`: its body and the bytes it used, `None`
/// if `buf` holds only part of one. A header announcing more than `max`
/// body bytes fails at once, before the body is there.
///
/// # Errors
///
/// [`FrameError::Oversized`].
///
/// ```
/// use leasepool::process::frame;
/// assert_eq!(frame::split(&[3, 0, 0, 0, 2, 1], 16), Ok(None)); // one byte missing
/// assert_eq!(frame::split(&[1, 0, 0, 0, 2, 9], 16), Ok(Some((&[2u8][..], 5))));
/// ```
pub fn split(buf: &[u8], max: usize) -> Result<Option<(&[u8], usize)>, FrameError> {
    let Some(header) = buf.get(..HEADER) else { return Ok(None) };
    let len = body_len(header.try_into().expect("four bytes"), max)?;
    Ok(buf.get(HEADER..HEADER + len).map(|body| (body, HEADER + len)))
}

/// The body length a header announces, if within `max`.
///
/// # Errors
///
/// [`FrameError::Oversized`].
///
/// ```
/// use leasepool::process::frame;
/// assert_eq!(frame::body_len([5, 0, 0, 0], 8), Ok(5));
/// assert!(frame::body_len([9, 0, 0, 0], 8).is_err());
/// ```
pub fn body_len(header: [u8; HEADER], max: usize) -> Result<usize, FrameError> {
    let len = u32::from_le_bytes(header);
    match usize::try_from(len) {
        Ok(n) if n <= max => Ok(n),
        _ => Err(FrameError::Oversized { len: u64::from(len), max }),
    }
}

/// Decodes a body sent by a worker.
///
/// # Errors
///
/// [`FrameError::Empty`], [`FrameError::UnknownTag`] (a call tag included),
/// [`FrameError::Short`], [`FrameError::NotUtf8`].
///
/// ```
/// use leasepool::process::frame::{self, Reply};
/// assert_eq!(frame::decode_reply(&[frame::TAG_PANICKED, b'b', b'o', b'o', b'm']), Ok(Reply::Panicked("boom")));
/// ```
pub fn decode_reply(body: &[u8]) -> Result<Reply<'_>, FrameError> {
    let (&tag, rest) = body.split_first().ok_or(FrameError::Empty)?;
    Ok(match tag {
        TAG_OK => Reply::Ok(rest),
        TAG_PANICKED => Reply::Panicked(text(rest, "panic message")?),
        TAG_UNKNOWN_JOB => Reply::UnknownJob(text(rest, "job name")?),
        TAG_BAD_INPUT => Reply::BadInput(text(rest, "decode error")?),
        TAG_BAD_OUTPUT => Reply::BadOutput(text(rest, "encode error")?),
        TAG_INIT_FAILED => Reply::InitFailed(text(rest, "init error")?),
        TAG_HELLO => {
            let token = rest.get(..8).ok_or(FrameError::Short("token"))?;
            let pid = rest.get(8..12).ok_or(FrameError::Short("pid"))?;
            if rest.len() > 12 {
                return Err(FrameError::Trailing("hello"));
            }
            Reply::Hello {
                token: u64::from_le_bytes(token.try_into().expect("eight bytes")),
                pid: u32::from_le_bytes(pid.try_into().expect("four bytes")),
            }
        }
        other => return Err(FrameError::UnknownTag(other)),
    })
}

/// Decodes a body sent to a worker.
///
/// # Errors
///
/// [`FrameError::Empty`], [`FrameError::UnknownTag`], [`FrameError::Short`],
/// [`FrameError::NotUtf8`].
///
/// ```
/// use leasepool::process::frame::{self, Call};
/// let mut wire = Vec::new();
/// frame::encode_call(Call { name: "fib", input: &[7] }, &mut wire);
/// let call = frame::decode_call(&wire[frame::HEADER..]).unwrap();
/// assert_eq!((call.name, call.input), ("fib", &[7u8][..]));
/// ```
pub fn decode_call(body: &[u8]) -> Result<Call<'_>, FrameError> {
    let (&tag, rest) = body.split_first().ok_or(FrameError::Empty)?;
    if tag != TAG_CALL {
        return Err(FrameError::UnknownTag(tag));
    }
    let len = rest.get(..2).ok_or(FrameError::Short("name length"))?;
    let len = usize::from(u16::from_le_bytes(len.try_into().expect("two bytes")));
    let name = rest.get(2..2 + len).ok_or(FrameError::Short("job name"))?;
    Ok(Call { name: text(name, "job name")?, input: &rest[2 + len..] })
}

/// Appends a call frame to `out`. A name over 65,535 bytes is cut (no
/// job of that name can be registered: see `Jobs::register`).
pub fn encode_call(call: Call<'_>, out: &mut Vec<u8>) {
    let name = &call.name.as_bytes()[..call.name.len().min(usize::from(u16::MAX))];
    let start = begin(out, TAG_CALL);
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(name);
    out.extend_from_slice(call.input);
    finish(out, start);
}

/// Appends a reply frame to `out`.
pub fn encode_reply(reply: &Reply<'_>, out: &mut Vec<u8>) {
    let (tag, payload): (u8, &[u8]) = match reply {
        Reply::Ok(bytes) => (TAG_OK, bytes),
        Reply::Panicked(s) => (TAG_PANICKED, s.as_bytes()),
        Reply::UnknownJob(s) => (TAG_UNKNOWN_JOB, s.as_bytes()),
        Reply::BadInput(s) => (TAG_BAD_INPUT, s.as_bytes()),
        Reply::BadOutput(s) => (TAG_BAD_OUTPUT, s.as_bytes()),
        Reply::InitFailed(s) => (TAG_INIT_FAILED, s.as_bytes()),
        Reply::Hello { token, pid } => {
            let start = begin(out, TAG_HELLO);
            out.extend_from_slice(&token.to_le_bytes());
            out.extend_from_slice(&pid.to_le_bytes());
            return finish(out, start);
        }
    };
    let start = begin(out, tag);
    out.extend_from_slice(payload);
    finish(out, start);
}

fn begin(out: &mut Vec<u8>, tag: u8) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    out.push(tag);
    start
}

/// Writes the body length into the header at `start`. A body over 4 GiB
/// cannot be framed: its length saturates, and the peer's limit refuses it.
fn finish(out: &mut [u8], start: usize) {
    let len = u32::try_from(out.len() - start - HEADER).unwrap_or(u32::MAX);
    out[start..start + HEADER].copy_from_slice(&len.to_le_bytes());
}

fn text<'a>(bytes: &'a [u8], what: &'static str) -> Result<&'a str, FrameError> {
    std::str::from_utf8(bytes).map_err(|_| FrameError::NotUtf8(what))
}

/// The prefix of a worker's forwarded `tracing` event on its output pipe:
/// a record separator (never in text a program prints by accident) and a
/// tag. Any other line is plain output.
pub const LOG_PREFIX: &str = "\u{1e}LPLOG\t";

/// A worker's `tracing` event, as forwarded on its output pipe: one line
/// of `LOG_PREFIX`, then the level, target, message and fields separated
/// by tabs, with `\\`, tab, newline and carriage return escaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The event's level.
    pub level: tracing::Level,
    /// The event's target in the worker.
    pub target: String,
    /// Its `message` field.
    pub message: String,
    /// Its other fields, `k=v` separated by spaces.
    pub fields: String,
}

/// Appends `line` as one output line (newline included) to `out`.
///
/// ```
/// use leasepool::process::frame::{self, LogLine};
/// let line = LogLine { level: tracing::Level::WARN, target: "app".into(), message: "a\tb".into(), fields: "n=1".into() };
/// let mut out = String::new();
/// frame::encode_log_line(&line, &mut out);
/// assert_eq!(frame::decode_log_line(out.trim_end_matches('\n').as_bytes()), Some(line));
/// ```
pub fn encode_log_line(line: &LogLine, out: &mut String) {
    out.push_str(LOG_PREFIX);
    out.push_str(line.level.as_str());
    for part in [&line.target, &line.message, &line.fields] {
        out.push('\t');
        for c in part.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                c => out.push(c),
            }
        }
    }
    out.push('\n');
}

/// Decodes one output line (without its newline) of a worker: `Some` for
/// a forwarded event, `None` for plain output (or a damaged event line,
/// which is then shown as plain output).
///
/// ```
/// use leasepool::process::frame;
/// assert_eq!(frame::decode_log_line(b"plain text"), None);
/// ```
pub fn decode_log_line(line: &[u8]) -> Option<LogLine> {
    let rest = std::str::from_utf8(line).ok()?.strip_prefix(LOG_PREFIX)?;
    let mut parts = rest.split('\t');
    let level = parts.next()?.parse().ok()?;
    let mut text = || unescape(parts.next()?);
    let (target, message, fields) = (text()?, text()?, text()?);
    if parts.next().is_some() {
        return None;
    }
    Some(LogLine { level, target, message, fields })
}

fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        out.push(match c {
            '\\' => match chars.next()? {
                '\\' => '\\',
                't' => '\t',
                'n' => '\n',
                'r' => '\r',
                _ => return None,
            },
            c => c,
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(reply: Reply<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        encode_reply(&reply, &mut out);
        out
    }

    #[test]
    fn every_reply_round_trips() {
        for reply in [
            Reply::Hello { token: u64::MAX - 3, pid: 77 },
            Reply::InitFailed("no"),
            Reply::Ok(&[1, 2, 3]),
            Reply::Ok(&[]),
            Reply::Panicked("boom"),
            Reply::UnknownJob("fib"),
            Reply::BadInput("eof"),
            Reply::BadOutput("eof"),
        ] {
            let wire = framed(reply);
            let (body, used) = split(&wire, 64).unwrap().unwrap();
            assert_eq!(used, wire.len());
            assert_eq!(decode_reply(body).unwrap(), reply);
        }
    }

    #[test]
    fn a_truncated_frame_is_incomplete_at_every_cut() {
        let wire = framed(Reply::Panicked("a longer message"));
        for cut in 0..wire.len() {
            assert_eq!(split(&wire[..cut], 64), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn an_oversized_header_fails_before_the_body() {
        let wire = framed(Reply::Ok(&[0; 100]));
        assert_eq!(split(&wire[..HEADER], 99), Err(FrameError::Oversized { len: 101, max: 99 }));
    }

    #[test]
    fn malformed_bodies_are_typed_errors() {
        assert_eq!(decode_reply(&[]), Err(FrameError::Empty));
        assert_eq!(decode_reply(&[TAG_CALL]), Err(FrameError::UnknownTag(TAG_CALL)));
        assert_eq!(decode_reply(&[99]), Err(FrameError::UnknownTag(99)));
        assert_eq!(decode_reply(&[TAG_HELLO, 1, 2]), Err(FrameError::Short("token")));
        assert_eq!(decode_reply(&[TAG_HELLO, 0, 0, 0, 0, 0, 0, 0, 0, 1]), Err(FrameError::Short("pid")));
        assert_eq!(decode_reply(&[TAG_PANICKED, 0xff]), Err(FrameError::NotUtf8("panic message")));
        assert_eq!(decode_call(&[TAG_CALL, 5, 0, b'a']), Err(FrameError::Short("job name")));
        assert_eq!(decode_call(&[TAG_OK]), Err(FrameError::UnknownTag(TAG_OK)));
        let mut long_hello = vec![TAG_HELLO];
        long_hello.extend_from_slice(&[0; 13]);
        assert_eq!(decode_reply(&long_hello), Err(FrameError::Trailing("hello")));
    }

    #[test]
    fn log_lines_round_trip_and_damaged_ones_are_plain_output() {
        let line = LogLine {
            level: tracing::Level::INFO,
            target: "app::jobs".into(),
            message: "line one\nline\ttwo \\ end\r".into(),
            fields: "n=5 who=\"me\"".into(),
        };
        let mut out = String::new();
        encode_log_line(&line, &mut out);
        assert_eq!(out.matches('\n').count(), 1, "one line: {out:?}");
        assert_eq!(decode_log_line(out.trim_end().as_bytes()), Some(line));
        let prefix = LOG_PREFIX;
        for damaged in [
            format!("{prefix}LOUD\ta\tb\tc"),
            format!("{prefix}INFO\ta\tb"),
            format!("{prefix}INFO\ta\\x\tb\tc"),
        ] {
            assert_eq!(decode_log_line(damaged.as_bytes()), None, "{damaged:?}");
        }
        assert_eq!(decode_log_line(&[0xff, 0xfe]), None);
    }
}
