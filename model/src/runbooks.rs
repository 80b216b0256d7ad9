//! Runbooks: what to do when a failure cause rises, one per `failure_cause`.
//!
//! The built-in ones are the repository's `runbooks.toml`, compiled in. Users
//! pass their own file (`--runbooks FILE`): the causes it names replace the
//! built-in entries, the others stay. The dashboard shows them and every
//! spike alert carries the text of its cause's runbook ([`Runbooks::text`]).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::vocab::{FailureCause, normalise};

/// The built-in runbooks file.
pub const BUILTIN: &str = include_str!("../../runbooks.toml");

/// A runbooks file larger than this is refused (it is meant to be read by
/// people).
pub const MAX_FILE_BYTES: u64 = 1 << 20;

const MAX_STEPS: usize = 50;
const MAX_FIELD_CHARS: usize = 4_000;

/// What to do about one failure cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runbook {
    pub title: String,
    pub summary: String,
    pub steps: Vec<String>,
    /// Who to call, if the file says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// Runbooks by failure cause (normalised spelling).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runbooks {
    by_cause: BTreeMap<String, Runbook>,
}

impl Runbooks {
    /// The built-in runbooks: one for every cause of the vocabulary.
    pub fn builtin() -> Self {
        Self::parse(BUILTIN).expect("the built-in runbooks.toml is valid (tested)")
    }

    /// Parses a runbooks file's text on its own (no built-in fallback).
    pub fn parse(text: &str) -> Result<Self, String> {
        let raw: BTreeMap<String, Runbook> = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut by_cause = BTreeMap::new();
        for (cause, book) in raw {
            let key = normalise(&cause).into_owned();
            if key.is_empty() {
                return Err("a runbook needs a failure cause as its table name".into());
            }
            book.check()
                .map_err(|e| format!("runbook [{cause}]: {e}"))?;
            if by_cause.insert(key.clone(), book).is_some() {
                return Err(format!("two runbooks for the cause {key:?}"));
            }
        }
        Ok(Self { by_cause })
    }

    /// The built-in runbooks with `path`'s entries replacing theirs.
    pub fn load(path: &Path) -> Result<Self, String> {
        let shown = path.display();
        let size = std::fs::metadata(path)
            .map_err(|e| format!("reading runbooks {shown}: {e}"))?
            .len();
        if size > MAX_FILE_BYTES {
            return Err(format!(
                "runbooks {shown} is {size} bytes; at most {MAX_FILE_BYTES} are read"
            ));
        }
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("reading runbooks {shown}: {e}"))?;
        let mine = Self::parse(&text).map_err(|e| format!("runbooks {shown}: {e}"))?;
        let mut all = Self::builtin();
        all.by_cause.extend(mine.by_cause);
        Ok(all)
    }

    /// The runbook of a failure cause (any spelling `normalise` accepts).
    pub fn get(&self, cause: &str) -> Option<&Runbook> {
        self.by_cause.get(normalise(cause).as_ref())
    }

    /// Every runbook, by cause.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Runbook)> {
        self.by_cause.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The runbook of `cause` as plain text for an alert: title, summary and
    /// numbered steps. A cause without a runbook gets the `unknown` one's,
    /// and failing that a line saying there is none.
    pub fn text(&self, cause: &str) -> String {
        match self
            .get(cause)
            .or_else(|| self.get(FailureCause::Unknown.as_str()))
        {
            Some(book) => book.text(),
            None => format!("No runbook for {cause}."),
        }
    }
}

impl Runbook {
    /// Title, summary and numbered steps as plain text.
    pub fn text(&self) -> String {
        let mut out = format!("{}\n{}\n", self.title, self.summary);
        for (i, step) in self.steps.iter().enumerate() {
            out.push_str(&format!("{}. {step}\n", i + 1));
        }
        if let Some(owner) = &self.owner {
            out.push_str(&format!("Owner: {owner}\n"));
        }
        out.pop();
        out
    }

    fn check(&self) -> Result<(), String> {
        if self.title.trim().is_empty() {
            return Err("empty title".into());
        }
        if self.steps.is_empty() {
            return Err("no steps".into());
        }
        if self.steps.len() > MAX_STEPS {
            return Err(format!("{} steps; at most {MAX_STEPS}", self.steps.len()));
        }
        let fields = [&self.title, &self.summary]
            .into_iter()
            .chain(&self.steps)
            .chain(&self.owner);
        for f in fields {
            if f.chars().count() > MAX_FIELD_CHARS {
                return Err(format!("a field longer than {MAX_FIELD_CHARS} characters"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cause_of_the_vocabulary_has_a_builtin_runbook() {
        let books = Runbooks::builtin();
        for cause in FailureCause::ALL {
            let book = books
                .get(cause.as_str())
                .unwrap_or_else(|| panic!("{cause}"));
            assert!(book.steps.len() >= 3, "{cause}: {} steps", book.steps.len());
        }
        assert_eq!(books.iter().count(), FailureCause::ALL.len());
        // The troubleshooting practice the product grew out of.
        let has = |cause: &str, words: &str| {
            let text = books.text(cause).to_lowercase();
            assert!(text.contains(words), "{cause}: {text}");
        };
        has("network_error", "retry");
        has("payment_method_unsupported", "supported methods");
        has("system_maintenance", "announce");
        has("account_info_invalid", "validate address");
        has("browser_settings", "javascript and cookies");
        has("client_outdated", "prompt");
    }

    #[test]
    fn alert_text_numbers_the_steps_and_falls_back_to_unknown() {
        let books = Runbooks::builtin();
        let text = books.text("Network-Error");
        assert!(text.starts_with("Network errors"), "{text}");
        assert!(text.contains("\n1. ") && text.contains("\n2. "), "{text}");
        assert_eq!(books.text("gremlins"), books.text("unknown"));
        let none = Runbooks::parse("").unwrap();
        assert_eq!(none.text("gremlins"), "No runbook for gremlins.");
    }

    #[test]
    fn a_users_file_replaces_the_causes_it_names() {
        let dir = std::env::temp_dir().join(format!("op-runbooks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("runbooks.toml");
        std::fs::write(
            &path,
            "[network_error]\ntitle = \"Call the NOC\"\nsummary = \"\"\nsteps = [\"Call +86 10 1234\"]\nowner = \"noc\"\n\
             [gift_card_rejected]\ntitle = \"Gift cards\"\nsummary = \"ours\"\nsteps = [\"Check the gift-card service\"]\n",
        )
        .unwrap();
        let books = Runbooks::load(&path).unwrap();
        assert_eq!(
            books.text("network_error"),
            "Call the NOC\n\n1. Call +86 10 1234\nOwner: noc"
        );
        // Causes outside the vocabulary are allowed (they are stored verbatim).
        assert_eq!(books.get("gift_card_rejected").unwrap().title, "Gift cards");
        // The rest keep the built-in text.
        assert_eq!(
            books.get("payment_declined"),
            Runbooks::builtin().get("payment_declined")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let err = |text: &str| Runbooks::parse(text).unwrap_err();
        assert!(
            err("[network_error\n").contains("line 1"),
            "{}",
            err("[x\n")
        );
        assert!(err("[a]\ntitle = \"t\"\nsummary = \"s\"\nsteps = []\n").contains("no steps"));
        assert!(err("[a]\ntitle = \" \"\nsummary = \"s\"\nsteps = [\"x\"]\n").contains("title"));
        assert!(
            err("[a]\ntitle = \"t\"\nsummary = \"s\"\nsteps = [\"x\"]\nurl = 1\n")
                .contains("unknown field")
        );
        assert!(err("[a]\ntitle = \"t\"\nsummary = \"s\"\n").contains("steps"));
        let many = format!(
            "[a]\ntitle = \"t\"\nsummary = \"s\"\nsteps = [{}]\n",
            vec!["\"x\""; 51].join(",")
        );
        assert!(err(&many).contains("at most 50"));
        let long = format!(
            "[a]\ntitle = \"{}\"\nsummary = \"s\"\nsteps = [\"x\"]\n",
            "t".repeat(5_000)
        );
        assert!(err(&long).contains("longer than"));
        // Two spellings of one cause.
        assert!(
            err(
                "[Network-Error]\ntitle = \"t\"\nsummary = \"s\"\nsteps = [\"x\"]\n\
                 [network_error]\ntitle = \"t\"\nsummary = \"s\"\nsteps = [\"x\"]\n"
            )
            .contains("two runbooks")
        );
        // A huge file is refused before it is read.
        let dir = std::env::temp_dir().join(format!("op-runbooks-big-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.toml");
        std::fs::write(&path, vec![b'#'; (MAX_FILE_BYTES + 1) as usize]).unwrap();
        assert!(Runbooks::load(&path).unwrap_err().contains("at most"));
        assert!(
            Runbooks::load(&dir.join("missing.toml"))
                .unwrap_err()
                .contains("missing.toml")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
