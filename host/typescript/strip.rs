//! Stripping a TypeScript piece down to JavaScript with oxc: parse, check the
//! syntax, transform with the TypeScript preset (types removed, enums and
//! namespaces turned into JavaScript, nothing else lowered, ES module syntax
//! kept), print with a source map.

use super::position_map::{Position, PositionMap};
use oxc_allocator::Allocator;
use oxc_codegen::{Codegen, CodegenOptions};
use oxc_diagnostics::OxcDiagnostic;
use oxc_parser::Parser;
use oxc_semantic::SemanticBuilder;
use oxc_span::SourceType;
use oxc_transformer::{TransformOptions, Transformer};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// A TypeScript piece as the guest runs it: the JavaScript, and where each of
/// its positions came from in the `.ts` source.
#[derive(Debug, Clone)]
pub struct Stripped {
    pub js: Arc<str>,
    pub map: Arc<PositionMap>,
}

impl Stripped {
    /// About how many bytes this holds, for the cache's bound.
    pub fn size_bytes(&self) -> usize {
        self.js.len() + self.map.size_bytes()
    }
}

/// Why a TypeScript source could not be stripped: its first syntax error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsSyntaxError {
    /// The file name given to [`strip`].
    pub file_name: String,
    /// Where the error is in the `.ts` source.
    pub position: Position,
    /// The parser's message.
    pub message: String,
    /// The parser's advice, when it has some.
    pub help: Option<String>,
    /// How many more errors the source has.
    pub more: usize,
}

impl fmt::Display for TsSyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file_name, self.position.line, self.position.column, self.message
        )?;
        if let Some(help) = &self.help {
            write!(f, " ({help})")?;
        }
        match self.more {
            0 => Ok(()),
            1 => write!(f, " (and 1 more error)"),
            more => write!(f, " (and {more} more errors)"),
        }
    }
}

impl std::error::Error for TsSyntaxError {}

/// Strips the types from the TypeScript `source`, `file_name` naming it in
/// errors. A source with `import` or `export` is a module and one without is
/// a script, as the guest decides for JavaScript (so an `.mts` name changes
/// nothing). Types are not checked.
pub fn strip(source: &str, file_name: &str) -> Result<Stripped, TsSyntaxError> {
    let allocator = Allocator::default();
    let path = Path::new(file_name);
    let source_type = SourceType::ts();
    let fail = |errors: Vec<OxcDiagnostic>| syntax_error(source, file_name, errors);

    let parsed = Parser::new(&allocator, source, source_type).parse();
    let errors: Vec<_> = parsed.diagnostics.errors().cloned().collect();
    if !errors.is_empty() || parsed.panicked {
        return Err(fail(errors));
    }
    let mut program = parsed.program;

    let semantic = SemanticBuilder::new()
        .with_check_syntax_error(true)
        // The transformer adds scopes, symbols and references.
        .with_excess_capacity(2.0)
        .with_enum_eval(true)
        .build(&program);
    let errors: Vec<_> = semantic.diagnostics.errors().cloned().collect();
    if !errors.is_empty() {
        return Err(fail(errors));
    }
    let scoping = semantic.semantic.into_scoping();

    // The defaults: the TypeScript preset (namespaces allowed), no JSX, no
    // lowering of newer JavaScript, modules preserved.
    let options = TransformOptions::default();
    let transformed =
        Transformer::new(&allocator, path, &options).build_with_scoping(scoping, &mut program);
    let errors: Vec<_> = transformed.diagnostics.errors().cloned().collect();
    if !errors.is_empty() {
        return Err(fail(errors));
    }

    let printed = Codegen::new()
        .with_options(CodegenOptions {
            source_map_path: Some(path.to_path_buf()),
            ..CodegenOptions::default()
        })
        .build(&program);
    let tokens = printed.map.iter().flat_map(|map| {
        map.get_tokens().map(|token| {
            (
                token.get_dst_line(),
                token.get_dst_col(),
                token.get_src_line(),
                token.get_src_col(),
            )
        })
    });
    let map = PositionMap::from_tokens(tokens, &printed.code, source);
    Ok(Stripped {
        js: Arc::from(printed.code),
        map: Arc::new(map),
    })
}

fn syntax_error(source: &str, file_name: &str, errors: Vec<OxcDiagnostic>) -> TsSyntaxError {
    let more = errors.len().saturating_sub(1);
    let Some(first) = errors.into_iter().next() else {
        return TsSyntaxError {
            file_name: file_name.to_owned(),
            position: Position::new(1, 1),
            message: "the TypeScript parser gave up on this source".to_owned(),
            help: None,
            more,
        };
    };
    let offset = first
        .labels
        .iter()
        .find(|label| label.primary())
        .or_else(|| first.labels.first())
        .map_or(0, |label| label.offset() as usize);
    TsSyntaxError {
        file_name: file_name.to_owned(),
        position: Position::of_offset(source, offset),
        message: first.message.to_string(),
        help: first.help.as_ref().map(ToString::to_string),
        more,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn js(source: &str) -> String {
        strip(source, "piece.ts")
            .unwrap_or_else(|e| panic!("{e}"))
            .js
            .to_string()
    }

    #[test]
    fn types_interfaces_and_generics_are_stripped() {
        let out = js("interface Point { x: number; y: number }\n\
             type Id = string | number;\n\
             function first<T>(items: T[]): T | undefined { return items[0]; }\n\
             export function bgUpdater(event: { n: number }): Point {\n\
               const p = { x: event.n, y: 2 } satisfies Point;\n\
               return first<Point>([p]) as Point;\n\
             }\n");
        for gone in [
            "interface",
            "type Id",
            "<T>",
            ": number",
            "satisfies",
            " as Point",
        ] {
            assert!(!out.contains(gone), "{gone:?} left in:\n{out}");
        }
        assert!(out.contains("export function bgUpdater(event)"), "{out}");
        assert!(out.contains("function first(items)"), "{out}");
    }

    #[test]
    fn enums_and_namespaces_are_transformed() {
        let out = js("enum Color { Red, Green = 5, Blue }\n\
             const enum Flag { On = \"on\" }\n\
             namespace Geometry { export const unit = 2; export function double(n: number) { return n * unit; } }\n\
             export const values = [Color.Blue, Flag.On, Geometry.double(3)];\n");
        assert!(!out.contains("enum "), "{out}");
        assert!(!out.contains("namespace "), "{out}");
        assert!(out.contains("Color"), "{out}");
        assert!(out.contains("Geometry"), "{out}");
        assert!(out.contains("export const values"), "{out}");
    }

    #[test]
    fn type_only_imports_and_exports_vanish_and_module_syntax_stays() {
        let out = js("import type { Thing } from \"./things\";\n\
             import { type Other } from \"./others\";\n\
             export type { Thing };\n\
             export interface Shape { sides: number }\n\
             export default function bgUpdater(): Thing | Other | null { return null; }\n");
        assert!(!out.contains("import"), "{out}");
        assert!(!out.contains("Thing"), "{out}");
        assert!(!out.contains("Shape"), "{out}");
        assert!(out.contains("export default function bgUpdater()"), "{out}");
    }

    #[test]
    fn classes_keep_their_fields_and_lose_their_modifiers() {
        let out = js("class Counter {\n\
               private count: number = 0;\n\
               constructor(public readonly step: number) {}\n\
               bump(): number { return this.count += this.step; }\n\
             }\n\
             export function bgUpdater() { return new Counter(2).bump(); }\n");
        assert!(!out.contains("private"), "{out}");
        assert!(!out.contains("readonly"), "{out}");
        assert!(out.contains("this.step = step"), "{out}");
    }

    #[test]
    fn a_syntax_error_names_its_file_line_and_column() {
        let error = strip(
            "export function bgUpdater() {\n  const x: number = 1;\n  return { x: ;\n}\n",
            "broken.ts",
        )
        .unwrap_err();
        assert_eq!(error.file_name, "broken.ts");
        assert_eq!(error.position.line, 3);
        assert_eq!(error.position.column, 15);
        assert!(!error.message.is_empty());
        assert!(error.to_string().starts_with("broken.ts:3:15: "), "{error}");
    }

    #[test]
    fn a_type_syntax_error_is_a_syntax_error() {
        let error = strip(
            "type Pair = [number, string;\nexport function bgUpdater() {}\n",
            "pair.ts",
        )
        .unwrap_err();
        assert_eq!(error.position.line, 1, "{error}");
    }

    #[test]
    fn a_script_without_imports_or_exports_stays_a_script() {
        let out = js("var count: number = 0;\nfunction bgUpdater(): number { return ++count; }\n");
        assert!(!out.contains("export"), "{out}");
        assert!(out.contains("function bgUpdater()"), "{out}");
    }

    #[test]
    fn positions_map_back_to_the_typescript_lines() {
        let source = "interface Event {\n  n: number;\n}\n\ntype Unused = string;\n\n\
                      export function bgUpdater(event: Event): number {\n  throw new Error(\"boom\");\n}\n";
        let stripped = strip(source, "throws.ts").unwrap();
        let (line, text) = stripped
            .js
            .lines()
            .enumerate()
            .find(|(_, line)| line.contains("throw"))
            .expect("the throw is printed");
        let column = text.find("throw").unwrap() as u32 + 1;
        let original = stripped
            .map
            .original(Position::new(line as u32 + 1, column))
            .expect("the throw is mapped");
        assert_eq!(original, Position::new(8, 3));
    }
}
