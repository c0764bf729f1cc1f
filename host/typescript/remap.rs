//! Pointing the guest's error positions back at the `.ts` source: QuickJS
//! names a piece's frames `PIECE_ID:LINE:COLUMN` (the piece id is the file
//! name it evaluates the piece under), in positions of the stripped
//! JavaScript.

use super::position_map::{Position, PositionMap};

/// Rewrites every `piece_id:LINE:COLUMN` (or `piece_id:LINE`) in `text`, a
/// stack such as `    at bgUpdater (PIECE_ID:12:5)` or a message, to the
/// position in the TypeScript source that `map` gives. Positions in other
/// files, and those the map does not know, are left as they are.
pub fn remap_stack(text: &str, piece_id: &str, map: &PositionMap) -> String {
    if piece_id.is_empty() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(piece_id) {
        let (before, from_id) = rest.split_at(at);
        out.push_str(before);
        let after_id = &from_id[piece_id.len()..];
        let starts_name = out.chars().next_back().is_none_or(|c| !is_name_char(c));
        match starts_name.then(|| parse_position(after_id)).flatten() {
            Some((generated, has_column, used)) => {
                out.push_str(piece_id);
                let position = map.original(generated).unwrap_or(generated);
                out.push(':');
                out.push_str(&position.line.to_string());
                if has_column {
                    out.push(':');
                    out.push_str(&position.column.to_string());
                }
                rest = &after_id[used..];
            }
            None => {
                out.push_str(piece_id);
                rest = after_id;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Characters that may sit inside a file name, so a piece id preceded by one
/// is part of another name.
fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/')
}

/// Reads `:LINE` or `:LINE:COLUMN` at the start of `text`: the position (the
/// column 1 when absent), whether it had a column, and the bytes read.
fn parse_position(text: &str) -> Option<(Position, bool, usize)> {
    let (line, line_len) = number_after_colon(text)?;
    match number_after_colon(&text[line_len..]) {
        Some((column, column_len)) => {
            Some((Position::new(line, column), true, line_len + column_len))
        }
        None => Some((Position::new(line, 1), false, line_len)),
    }
}

/// Reads `:DIGITS` at the start of `text`: the number and the bytes read.
fn number_after_colon(text: &str) -> Option<(u32, usize)> {
    let digits = text.strip_prefix(':')?;
    let len = digits.bytes().take_while(u8::is_ascii_digit).count();
    let number = digits[..len].parse().ok()?;
    Some((number, len + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Generated line 2 comes from source line 9, generated line 3 from
    /// source line 12 (at column 5).
    fn map() -> PositionMap {
        let generated = "x;\n  throw e;\n  f();\n";
        let source = "\n".repeat(8) + "    throw e;\n\n\n    f();\n";
        PositionMap::from_tokens(
            [(1, 2, 8, 4), (2, 2, 11, 4), (2, 3, 11, 5)],
            generated,
            &source,
        )
    }

    #[test]
    fn frames_of_the_piece_get_typescript_positions() {
        let stack = "    at inner (calc:2:3)\n    at bgUpdater (calc:3:4)\n    at calc:3:3\n";
        assert_eq!(
            remap_stack(stack, "calc", &map()),
            "    at inner (calc:9:5)\n    at bgUpdater (calc:12:6)\n    at calc:12:5\n"
        );
    }

    #[test]
    fn other_files_and_longer_names_are_left_alone() {
        let stack = "    at f (bgwasm:prelude:2:3)\n    at g (my-calc:2:3)\n    at h (calc2:2:3)\n    at native";
        assert_eq!(remap_stack(stack, "calc", &map()), stack);
    }

    #[test]
    fn a_line_without_a_column_and_unknown_lines_are_handled() {
        assert_eq!(
            remap_stack(
                "SyntaxError at calc:2, then calc:40:1 and calc: done",
                "calc",
                &map()
            ),
            "SyntaxError at calc:9, then calc:40:1 and calc: done"
        );
    }

    #[test]
    fn a_piece_id_with_special_characters_is_matched_literally() {
        let stack = "    at bgUpdater (a.b$(x):3:3)";
        assert_eq!(
            remap_stack(stack, "a.b$(x)", &map()),
            "    at bgUpdater (a.b$(x):12:5)"
        );
    }
}
