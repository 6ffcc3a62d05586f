//! OCI images for Berth: content store, registry client, layer unpacking
