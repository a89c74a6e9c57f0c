//! Reading a Parquet file on an object store: the one reader that integrity checks, phrase
//! indexes, rewrites and compaction share (DataFusion has its own for queries).

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

/// Reads one Parquet file of `size` bytes from an object store (with its page index when the
/// reader options ask for it).
pub struct StoreReader {
    store: Arc<dyn ObjectStore>,
    object: Path,
    size: u64,
}

impl StoreReader {
    /// Reads `object` of `size` bytes from `store`.
    pub fn new(store: Arc<dyn ObjectStore>, object: Path, size: u64) -> StoreReader {
        StoreReader { store, object, size }
    }
}

impl AsyncFileReader for StoreReader {
    fn get_bytes(&mut self, range: std::ops::Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        Box::pin(async move {
            self.store.get_range(&self.object, range).await.map_err(|e| ParquetError::External(Box::new(e)))
        })
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<std::ops::Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        Box::pin(async move {
            self.store.get_ranges(&self.object, &ranges).await.map_err(|e| ParquetError::External(Box::new(e)))
        })
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        Box::pin(async move {
            let size = self.size;
            let mut reader = ParquetMetaDataReader::new();
            if let Some(options) = options {
                reader = reader
                    .with_column_index_policy(options.column_index_policy())
                    .with_offset_index_policy(options.offset_index_policy());
            }
            let metadata = reader.load_and_finish(self, size).await?;
            Ok(Arc::new(metadata))
        })
    }
}
