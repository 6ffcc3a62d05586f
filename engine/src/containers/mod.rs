//! Containers: what users create, name, start and remove.

pub mod attach;
pub mod changes;
pub mod commit;
pub mod create;
pub mod etcfiles;
pub mod export;
pub mod health;
pub mod lifecycle;
pub mod links;
pub mod logs;
pub mod model;
pub mod monitor;
pub mod names;
pub mod query;
pub mod reconcile;
pub mod release;
pub mod signals;
pub mod state;
pub mod stats;
pub mod store;
pub mod view;
