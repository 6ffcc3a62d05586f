//! Tests of the whole parser.
use super::*;
