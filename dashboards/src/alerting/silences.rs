//! Silences (maintenance windows) set through the API, next to the ones
//! from `--silences FILE`.
//!
//! [`SilenceBook`] holds both: the file's (read-only here) and the API's,
//! which are kept in `{data_dir}/silences.json` (rewritten whole, temp file
//! then rename) so they survive a restart. The detector loop takes
//! [`SilenceBook::all`] before every evaluation. An API
//! silence is removed by id; an expired one stays listed until removed (it
//! no longer matches anything).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use analytics::detect::{Silence, rfc3339};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Most API silences kept at once.
pub const MAX_API_SILENCES: usize = 1_000;

/// What a client sends to add a silence.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    /// Dimension → value (`failure_cause`, `channel`, `payment_method`).
    pub slice: BTreeMap<String, String>,
    /// RFC 3339; default now.
    #[serde(default)]
    pub start: Option<String>,
    /// RFC 3339; give `end` or `duration`.
    #[serde(default)]
    pub end: Option<String>,
    /// e.g. `2h`, `30m`; from `start`.
    #[serde(default)]
    pub duration: Option<String>,
    #[serde(default)]
    pub comment: String,
}

/// A silence set through the API, as stored and listed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ApiSilence {
    pub id: String,
    pub slice: BTreeMap<String, String>,
    pub start: String,
    pub end: String,
    pub comment: String,
    pub created_at: String,
}

#[derive(Debug, Default)]
struct Book {
    from_file: Vec<Silence>,
    api: Vec<(ApiSilence, Silence)>,
    next_id: u64,
}

/// The silences of `serve`'s detector. Cheap to clone; clones share them.
#[derive(Debug, Clone)]
pub struct SilenceBook {
    book: Arc<RwLock<Book>>,
    path: Option<PathBuf>,
}

fn time(what: &str, text: &str) -> Result<i64, String> {
    let shown: String = text.chars().take(64).collect();
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("`{what}` `{shown}`: {e} (RFC 3339)"))
}

/// Checks a request into the stored form and the detector's.
fn check(new: NewSilence, id: String, now_ms: i64) -> Result<(ApiSilence, Silence), String> {
    let start_ms = match &new.start {
        Some(s) => time("start", s)?,
        None => now_ms,
    };
    let end_ms = match (&new.end, &new.duration) {
        (Some(e), None) => time("end", e)?,
        (None, Some(d)) => {
            let d = humantime::parse_duration(d)
                .map_err(|e| format!("`duration`: {e} (e.g. 2h, 30m)"))?;
            let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
            start_ms.checked_add(ms).ok_or("`duration` is too long")?
        }
        _ => return Err("give `end` (RFC 3339) or `duration` (e.g. 2h), not both".into()),
    };
    let silence = Silence::new(new.slice, start_ms, end_ms, new.comment)?;
    let stored = ApiSilence {
        id,
        slice: silence.matcher.clone(),
        start: rfc3339(start_ms),
        end: rfc3339(end_ms),
        comment: silence.comment.clone(),
        created_at: rfc3339(now_ms),
    };
    Ok((stored, silence))
}

impl SilenceBook {
    /// The file's silences, plus the API's kept at `path` (if any; a
    /// missing file is an empty list, a broken one an error).
    pub fn open(from_file: Vec<Silence>, path: Option<PathBuf>) -> Result<Self, String> {
        let mut book = Book {
            from_file,
            ..Book::default()
        };
        if let Some(p) = &path
            && p.exists()
        {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            let stored: Vec<ApiSilence> =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?;
            for s in stored {
                let start = time("start", &s.start)?;
                let end = time("end", &s.end)?;
                let silence = Silence::new(s.slice.clone(), start, end, s.comment.clone())
                    .map_err(|e| format!("{}: silence {}: {e}", p.display(), s.id))?;
                if let Some(n) = s.id.strip_prefix('s').and_then(|n| n.parse::<u64>().ok()) {
                    book.next_id = book.next_id.max(n + 1);
                }
                book.api.push((s, silence));
            }
        }
        Ok(Self {
            book: Arc::new(RwLock::new(book)),
            path,
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Book> {
        self.book.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Every silence, the file's first.
    pub fn all(&self) -> Vec<Silence> {
        let book = self.read();
        book.from_file
            .iter()
            .cloned()
            .chain(book.api.iter().map(|(_, s)| s.clone()))
            .collect()
    }

    /// `{"silences": [...]}`: the file's (`source: "file"`, no id) and the
    /// API's (`source: "api"`), each with `active` at `now_ms`.
    pub fn list(&self, now_ms: i64) -> Value {
        let book = self.read();
        let active = |s: &Silence| (s.start_ms..s.end_ms).contains(&now_ms);
        let mut out: Vec<Value> = book
            .from_file
            .iter()
            .map(|s| {
                json!({
                    "source": "file", "slice": s.matcher, "start": rfc3339(s.start_ms),
                    "end": rfc3339(s.end_ms), "comment": s.comment, "active": active(s),
                })
            })
            .collect();
        out.extend(book.api.iter().map(|(a, s)| {
            json!({
                "source": "api", "id": a.id, "slice": a.slice, "start": a.start, "end": a.end,
                "comment": a.comment, "created_at": a.created_at, "active": active(s),
            })
        }));
        json!({ "silences": out })
    }

    /// Adds a silence; `Err` says what is wrong with it (a client error) or
    /// that it could not be stored.
    pub fn add(&self, new: NewSilence, now_ms: i64) -> Result<ApiSilence, AddError> {
        let mut book = self.book.write().unwrap_or_else(|e| e.into_inner());
        if book.api.len() >= MAX_API_SILENCES {
            return Err(AddError::Invalid(format!(
                "{MAX_API_SILENCES} silences already; remove some first"
            )));
        }
        let id = format!("s{}", book.next_id);
        let (stored, silence) = check(new, id, now_ms).map_err(AddError::Invalid)?;
        book.api.push((stored.clone(), silence));
        if let Err(e) = self.save(&book) {
            book.api.pop();
            return Err(AddError::Storage(e));
        }
        book.next_id += 1;
        Ok(stored)
    }

    /// Removes an API silence; `Ok(false)` when there is none with `id`.
    pub fn remove(&self, id: &str) -> Result<bool, String> {
        let mut book = self.book.write().unwrap_or_else(|e| e.into_inner());
        let Some(i) = book.api.iter().position(|(a, _)| a.id == id) else {
            return Ok(false);
        };
        let removed = book.api.remove(i);
        if let Err(e) = self.save(&book) {
            book.api.insert(i, removed);
            return Err(e);
        }
        Ok(true)
    }

    fn save(&self, book: &Book) -> Result<(), String> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let stored: Vec<&ApiSilence> = book.api.iter().map(|(a, _)| a).collect();
        let text = serde_json::to_vec_pretty(&stored).map_err(|e| e.to_string())?;
        let tmp = path.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&tmp, &text)?;
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| format!("storing silences in {}: {e}", path.display()))
    }
}

/// Why a silence was not added.
#[derive(Debug)]
pub enum AddError {
    /// The request is wrong (400).
    Invalid(String),
    /// It could not be stored (500).
    Storage(String),
}
