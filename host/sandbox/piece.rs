//! A piece to run: its id, its source, and the language the source is in.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// The language of a piece's source. A TypeScript piece has its types
/// stripped by the host before the guest runs it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    #[serde(alias = "js")]
    JavaScript,
    #[serde(alias = "ts")]
    TypeScript,
}

/// A language name that is none of those [`Lang::parse`] knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown piece language {0:?}: use \"js\" (or \"javascript\") or \"ts\" (or \"typescript\")"
)]
pub struct UnknownLang(pub String);

impl Lang {
    /// The language a file's name says: `.ts` and `.mts` are TypeScript, `.js`
    /// and `.mjs` JavaScript; `None` for any other name.
    pub fn from_file_name(name: &str) -> Option<Self> {
        let (_, extension) = name.rsplit_once('.')?;
        match extension.to_ascii_lowercase().as_str() {
            "ts" | "mts" => Some(Self::TypeScript),
            "js" | "mjs" => Some(Self::JavaScript),
            _ => None,
        }
    }

    /// Reads a language name: `js`, `javascript`, `ts` or `typescript`, in any
    /// case.
    pub fn parse(name: &str) -> Result<Self, UnknownLang> {
        match name.trim().to_ascii_lowercase().as_str() {
            "js" | "javascript" => Ok(Self::JavaScript),
            "ts" | "typescript" => Ok(Self::TypeScript),
            _ => Err(UnknownLang(name.to_owned())),
        }
    }

    /// The full lowercase name, as in JSON: `javascript` or `typescript`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::JavaScript => "javascript",
            Self::TypeScript => "typescript",
        }
    }

    /// The usual file extension, without the dot: `js` or `ts`.
    pub fn extension(self) -> &'static str {
        match self {
            Self::JavaScript => "js",
            Self::TypeScript => "ts",
        }
    }
}

impl FromStr for Lang {
    type Err = UnknownLang;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::parse(name)
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A piece to run: its id, its source and the source's language.
#[derive(Debug, Clone)]
pub struct Piece {
    pub id: String,
    pub source: Arc<str>,
    pub lang: Lang,
}

impl Piece {
    /// A JavaScript piece.
    pub fn new(id: impl Into<String>, source: impl Into<Arc<str>>) -> Self {
        Self {
            id: id.into(),
            source: source.into(),
            lang: Lang::JavaScript,
        }
    }

    /// The same piece, its source in `lang`.
    pub fn with_lang(self, lang: Lang) -> Self {
        Self { lang, ..self }
    }

    /// The file name the piece's source goes by in TypeScript errors: its id,
    /// with `.ts` unless it already ends in `.ts` or `.mts`.
    pub fn file_name(&self) -> String {
        if Lang::from_file_name(&self.id) == Some(self.lang) {
            self.id.clone()
        } else {
            format!("{}.{}", self.id, self.lang.extension())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_says_its_language() {
        assert_eq!(Lang::from_file_name("a.ts"), Some(Lang::TypeScript));
        assert_eq!(Lang::from_file_name("dir/a.b.MTS"), Some(Lang::TypeScript));
        assert_eq!(Lang::from_file_name("a.js"), Some(Lang::JavaScript));
        assert_eq!(Lang::from_file_name("a.mjs"), Some(Lang::JavaScript));
        assert_eq!(Lang::from_file_name("a.tsx"), None);
        assert_eq!(Lang::from_file_name("ts"), None);
    }

    #[test]
    fn language_names_parse_and_others_are_refused_clearly() {
        assert_eq!(Lang::parse("ts"), Ok(Lang::TypeScript));
        assert_eq!(Lang::parse("TypeScript"), Ok(Lang::TypeScript));
        assert_eq!("js".parse(), Ok(Lang::JavaScript));
        assert_eq!(Lang::parse("javascript"), Ok(Lang::JavaScript));
        let error = Lang::parse("python").unwrap_err().to_string();
        assert!(error.contains("\"python\""), "{error}");
        assert!(error.contains("\"ts\""), "{error}");
    }

    #[test]
    fn the_language_is_json_by_its_full_name_and_reads_short_ones() {
        assert_eq!(
            serde_json::to_string(&Lang::TypeScript).unwrap(),
            "\"typescript\""
        );
        assert_eq!(
            serde_json::from_str::<Lang>("\"ts\"").unwrap(),
            Lang::TypeScript
        );
        assert_eq!(Lang::TypeScript.to_string(), "typescript");
    }

    #[test]
    fn a_piece_s_file_name_has_its_extension_once() {
        let piece = Piece::new("calc", "x").with_lang(Lang::TypeScript);
        assert_eq!(piece.file_name(), "calc.ts");
        assert_eq!(
            Piece::new("calc.mts", "x")
                .with_lang(Lang::TypeScript)
                .file_name(),
            "calc.mts"
        );
        assert_eq!(Piece::new("calc", "x").file_name(), "calc.js");
    }
}
