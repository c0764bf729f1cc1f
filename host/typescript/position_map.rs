//! Where a position in the stripped JavaScript came from in the TypeScript
//! source: the source map oxc printed, turned into a table that answers in a
//! binary search and counts columns as QuickJS does.

/// A position in a text: 1-based line and column, the column counted in
/// characters (Unicode scalar values), as QuickJS reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

impl Position {
    pub fn new(line: u32, column: u32) -> Self {
        Self { line, column }
    }

    /// The position of byte `offset` in `text` (clamped to its end, and to a
    /// character boundary).
    pub fn of_offset(text: &str, offset: usize) -> Self {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |at| at + 1);
        Self {
            line: before.matches('\n').count() as u32 + 1,
            column: before[line_start..].chars().count() as u32 + 1,
        }
    }
}

/// One mapped spot of the generated text, 0-based, columns in characters.
#[derive(Debug, Clone, Copy)]
struct Mapping {
    generated_column: u32,
    source_line: u32,
    source_column: u32,
}

/// Maps positions in the stripped JavaScript back to the TypeScript source.
#[derive(Debug, Clone, Default)]
pub struct PositionMap {
    /// `mappings[line_starts[l]..line_starts[l + 1]]` are generated line `l`'s
    /// mappings, in column order.
    line_starts: Vec<u32>,
    mappings: Vec<Mapping>,
}

/// A source-map token: generated line and column, then source line and
/// column, all 0-based, columns in UTF-16 code units (as source maps count).
pub(crate) type Utf16Token = (u32, u32, u32, u32);

impl PositionMap {
    /// Builds the map from source-map tokens of `generated`, printed from
    /// `source`.
    pub(crate) fn from_tokens(
        tokens: impl IntoIterator<Item = Utf16Token>,
        generated: &str,
        source: &str,
    ) -> Self {
        let generated_lines: Vec<&str> = generated.split('\n').collect();
        let source_lines: Vec<&str> = source.split('\n').collect();
        let mut tokens: Vec<Utf16Token> = tokens.into_iter().collect();
        tokens.sort_by_key(|&(line, column, _, _)| (line, column));
        let line_count = generated_lines.len();
        let mut line_starts = Vec::with_capacity(line_count + 1);
        let mut mappings = Vec::with_capacity(tokens.len());
        for (line, column, source_line, source_column) in tokens {
            let line = line as usize;
            if line >= line_count {
                continue;
            }
            while line_starts.len() <= line {
                line_starts.push(mappings.len() as u32);
            }
            let Some(source_text) = source_lines.get(source_line as usize) else {
                continue;
            };
            mappings.push(Mapping {
                generated_column: utf16_to_chars(generated_lines[line], column),
                source_line,
                source_column: utf16_to_chars(source_text, source_column),
            });
        }
        while line_starts.len() <= line_count {
            line_starts.push(mappings.len() as u32);
        }
        Self {
            line_starts,
            mappings,
        }
    }

    /// Where `generated` came from: the mapping at or before it on its line,
    /// else the line's first one. `None` for a line with no mapping.
    pub fn original(&self, generated: Position) -> Option<Position> {
        let line = generated.line.checked_sub(1)? as usize;
        let start = *self.line_starts.get(line)? as usize;
        let end = *self.line_starts.get(line + 1)? as usize;
        let on_line = &self.mappings[start..end];
        let column = generated.column.saturating_sub(1);
        let after = on_line.partition_point(|m| m.generated_column <= column);
        let mapping = on_line.get(after.saturating_sub(1))?;
        Some(Position {
            line: mapping.source_line + 1,
            column: mapping.source_column + 1,
        })
    }

    /// About how many bytes the map holds, for the cache's bound.
    pub fn size_bytes(&self) -> usize {
        self.line_starts.len() * size_of::<u32>() + self.mappings.len() * size_of::<Mapping>()
    }
}

/// The character column of UTF-16 column `column` in `line`.
fn utf16_to_chars(line: &str, column: u32) -> u32 {
    if line.is_ascii() {
        return column;
    }
    let mut units = 0;
    let mut chars = 0;
    for c in line.chars() {
        if units >= column {
            break;
        }
        units += c.len_utf16() as u32;
        chars += 1;
    }
    chars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_is_a_one_based_line_and_character_column() {
        let text = "ab\nçd\r\nxyz";
        assert_eq!(Position::of_offset(text, 0), Position::new(1, 1));
        assert_eq!(Position::of_offset(text, 4), Position::new(2, 1));
        assert_eq!(Position::of_offset(text, 5), Position::new(2, 2));
        assert_eq!(Position::of_offset(text, 8), Position::new(3, 1));
        assert_eq!(Position::of_offset(text, 1000), Position::new(3, 4));
    }

    #[test]
    fn a_position_maps_to_the_mapping_at_or_before_it_on_its_line() {
        let generated = "let a = 1;\nfoo(a);\n";
        let source = "let a: number = 1;\n\nfoo(a);\n";
        let map = PositionMap::from_tokens(
            [(0, 0, 0, 0), (0, 4, 0, 4), (1, 0, 2, 0), (1, 4, 2, 4)],
            generated,
            source,
        );
        assert_eq!(map.original(Position::new(1, 1)), Some(Position::new(1, 1)));
        assert_eq!(map.original(Position::new(1, 9)), Some(Position::new(1, 5)));
        assert_eq!(map.original(Position::new(2, 5)), Some(Position::new(3, 5)));
        assert_eq!(map.original(Position::new(2, 3)), Some(Position::new(3, 1)));
        assert_eq!(map.original(Position::new(3, 1)), None);
        assert_eq!(map.original(Position::new(0, 1)), None);
    }

    #[test]
    fn a_position_before_the_line_s_first_mapping_takes_that_mapping() {
        let map = PositionMap::from_tokens([(0, 4, 6, 2)], "    x();", "\n\n\n\n\n\n  x();");
        assert_eq!(map.original(Position::new(1, 1)), Some(Position::new(7, 3)));
    }

    #[test]
    fn columns_count_characters_not_utf16_units() {
        // "😀" is two UTF-16 units but one character.
        let generated = "f(\"😀\", g());";
        let source = "f(\"😀\" as string, g());";
        let map = PositionMap::from_tokens([(0, 8, 0, 18)], generated, source);
        // `g` is UTF-16 unit 8 but character 7 (0-based) of the generated
        // line, and unit 18 but character 17 of the source line.
        assert_eq!(
            map.original(Position::new(1, 8)),
            Some(Position::new(1, 18))
        );
    }
}
