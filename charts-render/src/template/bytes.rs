//! Go strings are bytes: a file read with `.Files.Get` that is not UTF-8 (a
//! compressed archive, an image) stays bytes, so `b64enc` and the checksums see
//! what helm sees. Such a value is a [`Value::Bytes`]; text functions read it
//! lossily.

use std::rc::Rc;

use super::value::Value;

/// A file's content as a template value: a string when it is UTF-8, else bytes.
pub fn value(b: &[u8]) -> Value {
    match std::str::from_utf8(b) {
        Ok(s) => Value::str(s),
        Err(_) => Value::Bytes(Rc::new(b.to_vec())),
    }
}

/// The bytes of a string argument, as Sprig's byte-oriented functions use them.
pub fn raw(v: Option<&Value>) -> Vec<u8> {
    match v {
        Some(Value::Bytes(b)) => b.to_vec(),
        Some(Value::Str(s)) => s.as_bytes().to_vec(),
        Some(Value::Nil) | None => Vec::new(),
        Some(other) => other.go_string().into_bytes(),
    }
}

/// The first document of a YAML stream (what sigs.k8s.io/yaml reads): text up
/// to the second `---` line, a leading `---` skipped.
pub fn first_document(text: &str) -> &str {
    let mut start = 0;
    let mut seen_content = false;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        let is_marker = bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t");
        if is_marker {
            if seen_content {
                return &text[start..offset];
            }
            start = offset + if bare == "---" { line.len() } else { 3 };
        } else if !bare.trim().is_empty() && !bare.trim_start().starts_with('#') {
            seen_content = true;
        }
        offset += line.len();
    }
    &text[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_document_of_a_stream() {
        assert_eq!(first_document("a: 1\n---\nb: 2\n"), "a: 1\n");
        assert_eq!(first_document("---\nx: 1\n---\ny: 2"), "x: 1\n");
        assert_eq!(first_document("# c\n---\nx: 1"), "x: 1");
        assert_eq!(first_document("a: '---'\n"), "a: '---'\n");
    }

    #[test]
    fn binary_files_keep_their_bytes() {
        let v = value(&[0x42, 0xff, 0x00]);
        assert_eq!(raw(Some(&v)), vec![0x42, 0xff, 0x00]);
        assert!(matches!(value(b"text"), Value::Str(_)));
    }
}
