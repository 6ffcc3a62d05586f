//! The images part of `GET /system/df`, counted as dockerd counts it: each layer by its
//! unpacked size, an image's `SharedSize` the layers it has in common with another image,
//! and `LayersSize` every layer once.

use std::collections::{BTreeMap, HashMap};

use berth_api::image as api;

use super::Named;
use crate::engine::Engine;
use crate::error::Result;

/// What `system df` shows of the images.
pub struct ImagesUsage {
    /// Every image layer once.
    pub layers_size: i64,
    pub images: Vec<api::Summary>,
}

/// Layers shared by several images: (chain ID, size) lists per image ID.
fn shared(layers: &HashMap<String, Vec<(String, i64)>>) -> (i64, HashMap<&str, i64>) {
    let mut users: BTreeMap<&str, (usize, i64)> = BTreeMap::new();
    for chains in layers.values() {
        for (chain, size) in chains {
            let e = users.entry(chain.as_str()).or_insert((0, *size));
            e.0 += 1;
        }
    }
    let total = users.values().map(|(_, s)| s).sum();
    let per_image = layers
        .iter()
        .map(|(id, chains)| {
            let s = chains
                .iter()
                .filter(|(c, _)| users.get(c.as_str()).is_some_and(|(n, _)| *n > 1))
                .map(|(_, s)| s)
                .sum();
            (id.as_str(), s)
        })
        .collect();
    (total, per_image)
}

impl Engine {
    /// The images `system df` lists, with their shared sizes, and the size of all layers.
    pub async fn images_disk_usage(&self) -> Result<ImagesUsage> {
        let mut images = self.image_list(&Default::default(), true).await?;
        let mut by_id: HashMap<String, Named> = HashMap::new();
        for n in self.images.all(&self.shimd).await? {
            by_id.entry(n.info.id.clone()).or_insert(n);
        }
        let mut layers: HashMap<String, Vec<(String, i64)>> = HashMap::new();
        for (id, n) in &by_id {
            let sizes = self.layer_sizes(&n.info).await;
            let chains = berth_image::manifest::chain_ids(
                &n.info
                    .diff_ids
                    .iter()
                    .filter_map(|d| d.parse().ok())
                    .collect::<Vec<_>>(),
            );
            layers.insert(
                id.clone(),
                chains.iter().map(|c| c.to_string()).zip(sizes).collect(),
            );
        }
        let (layers_size, per_image) = shared(&layers);
        for i in &mut images {
            i.shared_size = per_image.get(i.id.as_str()).copied().unwrap_or(0);
        }
        Ok(ImagesUsage {
            layers_size,
            images,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_layers_are_counted_once_in_the_total() {
        let layers = HashMap::from([
            (
                "a".to_string(),
                vec![("c1".to_string(), 10), ("c2".to_string(), 5)],
            ),
            (
                "b".to_string(),
                vec![("c1".to_string(), 10), ("c3".to_string(), 7)],
            ),
            ("c".to_string(), vec![("c4".to_string(), 1)]),
        ]);
        let (total, per) = shared(&layers);
        assert_eq!(total, 23);
        assert_eq!(per["a"], 10);
        assert_eq!(per["b"], 10);
        assert_eq!(per["c"], 0);
    }
}
