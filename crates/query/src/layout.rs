//! What the `segments` files promise about their order, told to DataFusion so that per-document work
//! needs neither a sort nor a repartition.
//!
//! Ingest writes each `segments` chunk sorted by `(doc_id, seq)` and records its first and last
//! document id (see `verbatim_archive::DocRange`); chunk file names sort like the documents they
//! hold. When the files of a snapshot, in path order, hold disjoint increasing id ranges, the table
//! is declared
//!
//! * sorted by `doc_id, seq` within each scan partition, and
//! * range-partitioned on `doc_id`: DataFusion cuts the path-sorted file list into contiguous
//!   groups of equal file counts, one per partition, and the split points are the first ids of
//!   those groups, so every document lives in exactly one partition.
//!
//! Windows `PARTITION BY doc_id ORDER BY seq` and `GROUP BY doc_id` then stream over the scan in
//! constant memory. Archives whose files overlap (documents added by later runs between earlier
//! ones) get no declaration and are sorted and repartitioned as usual.

use datafusion::common::{ScalarValue, SplitPoint};
use datafusion::logical_expr::{Partitioning, RangePartitioning, SortExpr};
use datafusion::prelude::col;
use verbatim_archive::FileEntry;

/// The ordering and partitioning to declare for a `segments` table over `files`.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentOrder {
    /// `doc_id, seq` ascending.
    pub sort_order: Vec<SortExpr>,
    /// Range partitioning on `doc_id`, when there are at least two partitions.
    pub partitioning: Option<Partitioning>,
}

/// The declaration for `files`, or `None` when they do not hold disjoint increasing id ranges.
pub fn document_order(files: &[FileEntry], target_partitions: usize) -> Option<DocumentOrder> {
    let mut ranges =
        files.iter().map(|f| f.doc_range.as_ref().map(|r| (f.path.as_str(), r))).collect::<Option<Vec<_>>>()?;
    ranges.sort_by(|a, b| a.0.cmp(b.0));
    if ranges.is_empty() || ranges.windows(2).any(|w| w[0].1.last >= w[1].1.first) {
        return None;
    }
    let sort_order = vec![col("doc_id").sort(true, false), col("seq").sort(true, false)];
    let partitions = partition_count(ranges.len(), target_partitions);
    let partitioning = if partitions < 2 {
        None
    } else {
        let per_group = ranges.len().div_ceil(partitions);
        let split_points = (1..partitions)
            .map(|group| SplitPoint::new(vec![ScalarValue::Utf8(Some(ranges[group * per_group].1.first.clone()))]))
            .collect();
        let range = RangePartitioning::try_new(vec![col("doc_id").sort(true, false)], split_points).ok()?;
        Some(Partitioning::Range(range))
    };
    Some(DocumentOrder { sort_order, partitioning })
}

/// The largest partition count up to `target` for which cutting `files` files into groups of
/// `ceil(files / count)` (as DataFusion does) gives exactly `count` non-empty groups.
fn partition_count(files: usize, target: usize) -> usize {
    (1..=target.min(files)).rev().find(|&count| files.div_ceil(files.div_ceil(count)) == count).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use verbatim_archive::DocRange;

    use super::*;

    fn file(path: &str, first: &str, last: &str) -> FileEntry {
        FileEntry {
            path: path.into(),
            rows: 1,
            bytes: 1,
            doc_range: Some(DocRange { first: first.into(), last: last.into() }),
            phrase_index: None,
        }
    }

    fn split_values(order: &DocumentOrder) -> Vec<String> {
        match &order.partitioning {
            Some(Partitioning::Range(range)) => {
                range.split_points().iter().map(|p| p.values()[0].to_string()).collect()
            }
            _ => vec![],
        }
    }

    #[test]
    fn disjoint_ranges_in_path_order_are_range_partitioned_at_group_starts() {
        let files = [
            file("segments/r-000002-0000.parquet", "c", "c9"),
            file("segments/r-000000-0000.parquet", "a", "a9"),
            file("segments/r-000001-0000.parquet", "b", "b9"),
        ];
        let order = document_order(&files, 2).expect("declared");
        assert_eq!(order.sort_order.len(), 2);
        // Three files in two groups: [a, b] and [c].
        assert_eq!(split_values(&order), ["c"]);
    }

    #[test]
    fn overlapping_unsorted_or_unknown_ranges_get_no_declaration() {
        let overlapping = [file("segments/1.parquet", "a", "m"), file("segments/2.parquet", "k", "z")];
        assert_eq!(document_order(&overlapping, 2), None);
        let mut unknown = file("segments/3.parquet", "x", "y");
        unknown.doc_range = None;
        assert_eq!(document_order(&[file("segments/1.parquet", "a", "b"), unknown], 2), None);
        assert_eq!(document_order(&[], 2), None);
    }

    #[test]
    fn one_file_is_sorted_but_not_partitioned() {
        let order = document_order(&[file("segments/1.parquet", "a", "z")], 4).expect("declared");
        assert_eq!(order.partitioning, None);
    }

    #[test]
    fn partition_counts_match_datafusions_grouping() {
        assert_eq!(partition_count(9, 2), 2);
        assert_eq!(partition_count(4, 3), 2); // groups of 2 → 2 groups
        assert_eq!(partition_count(5, 4), 3); // groups of 2 → 3 groups
        assert_eq!(partition_count(1, 8), 1);
        assert_eq!(partition_count(100, 8), 8);
    }
}
