//! Streams of JSON values (events, pull/push/load progress, stats): one value after the
//! other, usually one per line.

use std::io::{BufReader, Read};

use serde_json::Value;

use super::ApiError;

/// Iterates over the JSON values of a streamed response body.
pub fn values(body: impl Read) -> impl Iterator<Item = Result<Value, ApiError>> {
    serde_json::Deserializer::from_reader(BufReader::new(body))
        .into_iter::<Value>()
        .map(|r| r.map_err(|e| ApiError::Transport(format!("reading the daemon's stream: {e}"))))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_values_one_by_one() {
        let body = b"{\"a\":1}\n{\"a\":2}\r\n{\"a\":3}";
        let got: Vec<i64> = super::values(&body[..])
            .map(|v| v.unwrap()["a"].as_i64().unwrap())
            .collect();
        assert_eq!(got, [1, 2, 3]);
    }
}
