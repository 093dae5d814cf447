//! Fuzzes the process backend's wire format, the bytes a worker process
//! (untrusted input) sends its pool: the frame splitter must refuse an
//! oversized length before allocating, and every decoder must give a value
//! or a typed error, never panic. What decodes re-encodes to the same bytes.

#![no_main]

use leasepool_driver::process::frame;
use libfuzzer_sys::fuzz_target;

/// The limit the fuzzer's frames are checked against.
const MAX: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((body, used))) = frame::split(rest, MAX) {
        assert!(body.len() <= MAX && used == body.len() + frame::HEADER);
        if let Ok(reply) = frame::decode_reply(body) {
            let mut wire = Vec::new();
            frame::encode_reply(&reply, &mut wire);
            assert_eq!(&wire[frame::HEADER..], body, "a decoded reply re-encodes to its bytes");
        }
        let _ = frame::decode_call(body);
        rest = &rest[used..];
    }
    if let Some(line) = frame::decode_log_line(data) {
        let mut out = String::new();
        frame::encode_log_line(&line, &mut out);
        assert_eq!(frame::decode_log_line(out.trim_end_matches('\n').as_bytes()), Some(line));
    }
});
