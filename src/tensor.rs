//! A minimal owned f32 tensor: shape + row-major data.
//!
//! Kept deliberately tiny: the runtime copies ONNX Runtime outputs into these
//! buffers once per frame and reuses them (no per-frame allocation once warm).

/// Row-major f32 tensor with an explicit shape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Tensor {
    /// A zero-filled tensor of `shape`.
    pub fn zeros(shape: &[usize]) -> Self {
        Tensor { shape: shape.to_vec(), data: vec![0.0; shape.iter().product()] }
    }

    /// Reshape in place, reusing the allocation when it is large enough.
    pub fn resize(&mut self, shape: &[usize]) {
        self.shape.clear();
        self.shape.extend_from_slice(shape);
        self.data.resize(shape.iter().product(), 0.0);
    }

    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// The `i`-th slice along the first axis.
    pub fn row(&self, i: usize) -> &[f32] {
        let n = self.shape.iter().skip(1).product::<usize>();
        &self.data[i * n..(i + 1) * n]
    }
}
