//! How stored files are named and laid out: the data directory's tables, and
//! the flush a file belongs to. Ingest writes these names; analytics and any
//! outside tool read them back (to know which offsets a file covers, and to
//! skip what is not a complete file of ours).

/// The offsets one flush covers: every record of `topic`/`partition` from
/// `first` to `last` inclusive is stored (accepted or rejected) or was a
/// duplicate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlushRange {
    pub topic: String,
    pub partition: i32,
    pub first: i64,
    pub last: i64,
}

/// Directory of the `order_attempts` table under the data directory.
pub const ATTEMPTS_DIR: &str = "order_attempts";
/// Directory of the `rejected_events` table under the data directory.
pub const REJECTED_DIR: &str = "rejected_events";

/// Footer metadata keys.
pub mod meta {
    pub const TOPIC: &str = "orderpulse.topic";
    pub const PARTITION: &str = "orderpulse.partition";
    pub const FIRST_OFFSET: &str = "orderpulse.first_offset";
    pub const LAST_OFFSET: &str = "orderpulse.last_offset";
    pub const FILE_INDEX: &str = "orderpulse.file_index";
    pub const FILE_COUNT: &str = "orderpulse.file_count";
}

/// One file of a flush, as its name says.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlushFile {
    pub range: FlushRange,
    /// 1-based position of this file in its flush.
    pub index: u32,
    /// How many files the flush has.
    pub count: u32,
}

impl FlushFile {
    /// `{topic}-p{partition}-{first:020}-{last:020}-{index}of{count}.parquet`
    pub fn file_name(&self) -> String {
        let r = &self.range;
        format!(
            "{}-p{}-{:020}-{:020}-{}of{}.parquet",
            r.topic, r.partition, r.first, r.last, self.index, self.count
        )
    }

    /// Parses a file name; `None` for anything that is not one of ours.
    pub fn parse(name: &str) -> Option<FlushFile> {
        let stem = name.strip_suffix(".parquet")?;
        let (rest, of) = stem.rsplit_once('-')?;
        let (index, count) = of.split_once("of")?;
        let (index, count): (u32, u32) = (index.parse().ok()?, count.parse().ok()?);
        if index == 0 || index > count {
            return None;
        }
        Some(FlushFile {
            range: FlushRange::parse_stem(rest)?,
            index,
            count,
        })
    }
}

impl FlushRange {
    /// Parses `{topic}-p{partition}-{first:020}-{last:020}`, the part of a
    /// file name that says which offsets it covers.
    pub fn parse_stem(stem: &str) -> Option<FlushRange> {
        let (rest, last) = stem.rsplit_once('-')?;
        let (rest, first) = rest.rsplit_once('-')?;
        let (topic, partition) = rest.rsplit_once("-p")?;
        if topic.is_empty() || last.len() != 20 || first.len() != 20 {
            return None;
        }
        let range = FlushRange {
            topic: topic.to_string(),
            partition: partition.parse().ok()?,
            first: first.parse().ok()?,
            last: last.parse().ok()?,
        };
        let valid = range.first <= range.last && range.partition >= 0 && range.first >= 0;
        valid.then_some(range)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_with_dashes_and_dots_in_topics() {
        for topic in ["order-attempts", "shop.eu-orders", "a", "x-p3"] {
            let f = FlushFile {
                range: FlushRange {
                    topic: topic.into(),
                    partition: 12,
                    first: 0,
                    last: i64::MAX,
                },
                index: 2,
                count: 3,
            };
            let name = f.file_name();
            assert_eq!(FlushFile::parse(&name), Some(f), "{name}");
        }
    }

    #[test]
    fn foreign_names_are_not_ours() {
        for name in [
            "notes.txt",
            "part-0001.parquet",
            "t-p1-00000000000000000005-00000000000000000004-1of1.parquet",
            "t-p1-5-9-1of1.parquet",
            "t-p1-00000000000000000005-00000000000000000009-0of1.parquet",
            "t-p1-00000000000000000005-00000000000000000009-2of1.parquet",
            "-p1-00000000000000000005-00000000000000000009-1of1.parquet",
            ".t-p1-00000000000000000005-00000000000000000009-1of1.parquet.tmp",
        ] {
            assert_eq!(FlushFile::parse(name), None, "{name}");
        }
    }
}
