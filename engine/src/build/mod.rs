//! `docker build` with the classic builder (`POST /build`, Engine API v1.41 as dockerd 20.10
//! answers it): a context tar is unpacked, its Dockerfile parsed with berth-build, and each
//! instruction becomes an image made with [`crate::images::compose`].
//!
//! - [`options`]: the request's query;
//! - [`compress`]: gzip, bzip2 and xz contexts told by their magic;
//! - [`context`]: the context tar unpacked in the data root, `.dockerignore` applied;
//! - [`prune`]: `POST /build/prune`, the cache images removed;
//! - [`remote`]: a context fetched from a URL (`remote=`);
//! - [`stream`]: the JSON-lines answer, written as dockerd writes it;
//! - [`cache`]: step images named by a digest of what made them, so an unchanged step is
//!   found again (also after a restart: the names live in shimd's image store);
//! - [`copy`]: the tar a COPY or ADD extracts into the step's container;
//! - [`pipe`]: tars streamed from one thread to another instead of through temporary files;
//! - [`step`]: containers for steps that change files (RUN, COPY, ADD, WORKDIR);
//! - [`executor`]: the stages and their instructions, in order.

pub mod cache;
pub mod compress;
pub mod context;
pub mod copy;
pub mod executor;
pub mod options;
pub mod pipe;
pub mod prune;
pub mod remote;
pub mod step;
pub mod stream;
