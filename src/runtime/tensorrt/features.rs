//! The encoder's outputs kept in device memory for the decoder (COMPILED, NOT RUN).
//!
//! Encoder and decoder of one backend share a store: the encoder's plan writes the feature
//! maps into its buffers and the decoder's plan reads them from there, so the maps never
//! cross the bus; only `feat_s8` also comes down (the tracker's visual sampler reads it on
//! the host). Shapes are static (contract v1): the buffers are allocated once, at open.
use std::sync::{Arc, Mutex};

use cudarc::driver::{CudaSlice, CudaStream, DevicePtr};

use crate::bundle::Bundle;
use crate::model::DeviceTag;

pub type SharedFeatures = Arc<Mutex<FeatureStore>>;

pub struct FeatureStore {
    id: u64,
    generation: u64,
    /// (name, [1, C, h, w], buffer) in `Features` order.
    pub maps: Vec<(&'static str, [usize; 4], CudaSlice<f32>)>,
}

impl FeatureStore {
    pub fn new(bundle: &Bundle, stream: &Arc<CudaStream>) -> Result<SharedFeatures, String> {
        let m = &bundle.manifest;
        let (w, h) = (m.input.width, m.input.height);
        let mut maps = Vec::new();
        for (name, stride) in m.features() {
            // feat_s8 is token_dim wide under contract v2 ("gather"); the others hidden_dim.
            let shape = [1, m.model.feature_channels(name), h / stride as usize, w / stride as usize];
            let buf = stream.alloc_zeros::<f32>(shape.iter().product()).map_err(|e| format!("CUDA driver: feature buffers: {e:?}"))?;
            maps.push((name, shape, buf));
        }
        Ok(Arc::new(Mutex::new(FeatureStore { id: DeviceTag::new_store(), generation: 0, maps })))
    }

    /// The tag of the latest encoder run.
    pub fn tag(&self) -> DeviceTag {
        DeviceTag { store: self.id, generation: self.generation }
    }

    /// Marks a new encoder run and returns its tag.
    pub fn advance(&mut self) -> DeviceTag {
        self.generation += 1;
        self.tag()
    }

    /// Device address of map `i` (for binding on `stream`).
    pub fn ptr(&self, i: usize, stream: &CudaStream) -> u64 {
        self.maps[i].2.device_ptr(stream).0
    }
}
