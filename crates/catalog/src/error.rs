//! Errors and resource limits.

use serde::{Deserialize, Serialize};

/// Resource limits applied while parsing untrusted input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Maximum document size in bytes (default 64 MiB).
    pub max_bytes: usize,
    /// Maximum element nesting depth (default 64; values above 1024 are treated as 1024).
    pub max_depth: usize,
    /// Maximum number of elements (default 5 000 000).
    pub max_elements: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 64 * 1024 * 1024,
            max_depth: 64,
            max_elements: 5_000_000,
        }
    }
}

/// Hard ceiling on nesting depth regardless of [`Limits::max_depth`] (keeps recursion bounded).
pub const DEPTH_CEILING: usize = 1024;

/// Why a document could not be parsed as a THREDDS catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ParseError {
    /// The document is larger than [`Limits::max_bytes`].
    #[error("document too large: {size} bytes (limit {max})")]
    TooLarge {
        /// Document size.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// Elements nest deeper than [`Limits::max_depth`].
    #[error("elements nested too deeply: depth {depth} exceeds limit {max} (line {line})")]
    TooDeep {
        /// Depth reached.
        depth: usize,
        /// Limit.
        max: usize,
        /// Line where the limit was hit.
        line: usize,
    },
    /// More elements than [`Limits::max_elements`].
    #[error("too many elements: more than {max}")]
    TooManyElements {
        /// Limit.
        max: usize,
    },
    /// The document is an HTML page (e.g. a server error page served with status 200).
    #[error("not a THREDDS catalog: the document is an HTML page")]
    Html,
    /// The document is empty or whitespace only.
    #[error("not a THREDDS catalog: empty document")]
    Empty,
    /// The root element is not a THREDDS `catalog`.
    #[error("not a THREDDS catalog: root element is <{root}>")]
    NotACatalog {
        /// Root element name (with its namespace URI in braces when it has one).
        root: String,
    },
    /// Malformed XML.
    #[error("malformed XML at line {line}, column {column}: {message}")]
    Xml {
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
        /// Parser message.
        message: String,
    },
}

/// 1-based (line, column) of a byte offset in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut off = offset.min(text.len());
    while off > 0 && !text.is_char_boundary(off) {
        off -= 1;
    }
    let before = &text[..off];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts() {
        let t = "ab\ncdé\nf";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 3), (2, 1));
        assert_eq!(line_col(t, 7), (2, 4));
        assert_eq!(line_col(t, 8), (3, 1));
        assert_eq!(line_col(t, 999), (3, 2));
    }
}
