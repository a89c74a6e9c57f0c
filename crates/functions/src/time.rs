//! Time functions: `hms`, `youtube_link`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Int64Array, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature};

use super::{coerce_to_int64, for_each_str, is_string};

udf_struct!(Hms, "`hms(ms)`: `HH:MM:SS` for a time in milliseconds.");

impl ScalarUDFImpl for Hms {
    fn name(&self) -> &str {
        "hms"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [t] => Ok(vec![coerce_to_int64(self.name(), t)?]),
            _ => plan_err!("hms takes 1 argument, got {}", arg_types.len()),
        }
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ms = args.args[0].to_array(args.number_rows)?;
        let ms: &Int64Array = ms.as_primitive();
        let mut out = StringBuilder::with_capacity(ms.len(), ms.len() * 8);
        for value in ms.iter() {
            out.append_option(value.map(format_hms));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// `HH:MM:SS` (truncated to the second) for a time in milliseconds.
pub fn format_hms(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let seconds = ms.unsigned_abs() / 1000;
    format!("{sign}{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60)
}

udf_struct!(YoutubeLink, "`youtube_link(video_id, ms)`: a YouTube link to the video at that time.");

impl ScalarUDFImpl for YoutubeLink {
    fn name(&self) -> &str {
        "youtube_link"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [id, ms] if is_string(id) => Ok(vec![DataType::Utf8, coerce_to_int64(self.name(), ms)?]),
            [id, _] => plan_err!("youtube_link: video_id must be a string, got {id}"),
            _ => plan_err!("youtube_link takes 2 arguments, got {}", arg_types.len()),
        }
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ids = args.args[0].to_array(args.number_rows)?;
        let ms = args.args[1].to_array(args.number_rows)?;
        let ms: &Int64Array = ms.as_primitive();
        let mut out = StringBuilder::with_capacity(ids.len(), ids.len() * 48);
        let mut row = 0;
        for_each_str(&ids, |id| {
            let at = (!ms.is_null(row)).then(|| ms.value(row));
            out.append_option(id.zip(at).map(|(id, at)| youtube_link(id, at)));
            row += 1;
        })?;
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// The YouTube link to `video_id` at `ms` milliseconds (whole seconds, never negative).
pub fn youtube_link(video_id: &str, ms: i64) -> String {
    let id: String = url::form_urlencoded::byte_serialize(video_id.as_bytes()).collect();
    format!("https://www.youtube.com/watch?v={id}&t={}s", ms.max(0) / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hms_formats_hours_beyond_a_day_and_truncates() {
        assert_eq!(format_hms(0), "00:00:00");
        assert_eq!(format_hms(3_599_999), "00:59:59");
        assert_eq!(format_hms(360_000_000), "100:00:00");
        assert_eq!(format_hms(-61_000), "-00:01:01");
    }

    #[test]
    fn links_use_whole_seconds_and_escape_the_id() {
        assert_eq!(youtube_link("dQw4w9WgXcQ", 43_210), "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=43s");
        assert_eq!(youtube_link("a&b", -5), "https://www.youtube.com/watch?v=a%26b&t=0s");
    }
}
