//! Class vocabularies: names plus text embeddings, and cosine class scoring.
//!
//! Classes are text embeddings (open vocabulary): a decoder's class embedding is
//! scored by cosine similarity against every vocabulary entry, times a temperature,
//! then a sigmoid (as in OMG-Seg / UniVS).

/// Names and L2-normalised text embeddings, one row per class.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    pub names: Vec<String>,
    /// Row-major [K, D], rows normalised to unit length.
    pub embeddings: Vec<f32>,
    pub dim: usize,
    /// Multiplies the cosine before the sigmoid.
    pub logit_scale: f32,
}

impl Vocabulary {
    /// Builds a vocabulary; rows are normalised here so scoring is a dot product.
    pub fn new(names: Vec<String>, mut embeddings: Vec<f32>, dim: usize, logit_scale: f32) -> Self {
        assert_eq!(embeddings.len(), names.len() * dim, "embedding rows must match names");
        for row in embeddings.chunks_mut(dim.max(1)) {
            normalise(row);
        }
        Vocabulary { names, embeddings, dim, logit_scale }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Best class and its probability for one class embedding (`None` for an empty vocabulary).
    pub fn classify(&self, class_emb: &[f32]) -> Option<(usize, f32)> {
        let norm = class_emb.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-6);
        self.embeddings
            .chunks(self.dim.max(1))
            .map(|row| row.iter().zip(class_emb).map(|(a, b)| a * b).sum::<f32>() / norm)
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(k, cos)| (k, sigmoid(cos * self.logit_scale)))
    }
}

pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Scales a vector to unit length in place (zero vectors stay zero). The norm is summed
/// in f64: in f32 the squares of values above ~1e19 overflow to infinity and the row
/// would silently become zeros.
pub fn normalise(v: &mut [f32]) {
    let n = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
    if n > 1e-12 {
        v.iter_mut().for_each(|x| *x = (f64::from(*x) / n) as f32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_picks_most_similar_row() {
        let v = Vocabulary::new(vec!["a".into(), "b".into()], vec![1.0, 0.0, 0.0, 2.0], 2, 10.0);
        let (k, p) = v.classify(&[0.1, 0.9]).unwrap();
        assert_eq!(k, 1);
        let cos = 0.9 / (0.1f32 * 0.1 + 0.9 * 0.9).sqrt();
        assert!((p - sigmoid(10.0 * cos)).abs() < 1e-6);
        assert!(Vocabulary::default().classify(&[1.0]).is_none());
    }

    #[test]
    fn huge_rows_normalise_to_unit_length_not_zero() {
        let mut row = [3e30f32, 4e30];
        normalise(&mut row);
        assert!((row[0] - 0.6).abs() < 1e-6 && (row[1] - 0.8).abs() < 1e-6, "{row:?}");
    }
}
