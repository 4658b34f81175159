//! Open vocabulary at run time: class names -> [`Vocabulary`].
//!
//! Names the bundle's `vocabulary.json` holds keep their precomputed embeddings; other
//! names (and text-target phrases) are embedded by the bundle's text encoder, opened on
//! first use: most streams never need it, and it costs ~25 MB and a session load.
use crate::bundle::Bundle;
use crate::runtime::ort::TextEncoder;
use crate::vocab::Vocabulary;

/// Longest vocabulary accepted (bounded state; the MQTT command check uses the same).
pub const MAX_NAMES: usize = 1000;

enum TextSlot {
    /// The bundle has no text encoder.
    Absent,
    /// Not opened yet: the bundle to open it from.
    Closed(Box<Bundle>),
    Open(Box<TextEncoder>),
}

pub(super) struct OpenVocabulary {
    bundle_vocab: Vocabulary,
    bundle_name: String,
    text: TextSlot,
}

impl OpenVocabulary {
    pub fn new(bundle: &Bundle) -> Self {
        let text = if bundle.file("text_encoder").is_some() { TextSlot::Closed(Box::new(bundle.clone())) } else { TextSlot::Absent };
        OpenVocabulary { bundle_vocab: bundle.vocabulary.clone(), bundle_name: bundle.name().to_string(), text }
    }

    pub fn has_text_encoder(&self) -> bool {
        !matches!(self.text, TextSlot::Absent)
    }

    pub fn bundle_vocabulary(&self) -> &Vocabulary {
        &self.bundle_vocab
    }

    /// The vocabulary for `names` (in the user's order); empty: the bundle's vocabulary.
    pub fn select(&mut self, names: &[String]) -> Result<Vocabulary, String> {
        let full = &self.bundle_vocab;
        if names.is_empty() {
            return Ok(full.clone());
        }
        let names = check_names(names)?;
        let d = full.dim;
        // Index into the bundle vocabulary, per name (None: to be embedded).
        let known: Vec<Option<usize>> = names.iter().map(|n| full.names.iter().position(|k| k == n)).collect();
        let new: Vec<&str> = names.iter().zip(&known).filter(|(_, k)| k.is_none()).map(|(n, _)| n.as_str()).collect();
        if !new.is_empty() && !self.has_text_encoder() {
            return Err(format!(
                "class `{}` is not in the vocabulary of bundle `{}` ({}), and the bundle has no text encoder to embed new names",
                new[0],
                self.bundle_name,
                full.names.join(", ")
            ));
        }
        let mut embedded = if new.is_empty() { Vec::new() } else { self.embed(&new)? }.into_iter();
        let full = &self.bundle_vocab;
        let mut emb = Vec::with_capacity(names.len() * d);
        for k in known {
            match k {
                Some(k) => emb.extend_from_slice(&full.embeddings[k * d..(k + 1) * d]),
                None => emb.extend(embedded.next().expect("one embedding per new name")),
            }
        }
        Ok(Vocabulary::new(names, emb, d, full.logit_scale))
    }

    /// Text embeddings (L2-normalised) of `texts`, opening the text encoder if needed.
    pub fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        let encoder = self.encoder()?;
        let out = encoder.embed(texts).map_err(|e| e.to_string())?;
        check_embeddings(texts, &out, self.bundle_vocab.dim)?;
        Ok(out)
    }

    fn encoder(&mut self) -> Result<&mut TextEncoder, String> {
        if let TextSlot::Closed(bundle) = &self.text {
            let t0 = std::time::Instant::now();
            let enc = TextEncoder::open(bundle).map_err(|e| e.to_string())?;
            tracing::info!(bundle = %self.bundle_name, ms = t0.elapsed().as_millis() as u64, "text encoder opened");
            self.text = TextSlot::Open(Box::new(enc));
        }
        match &mut self.text {
            TextSlot::Open(enc) => Ok(enc),
            _ => Err(format!(
                "bundle `{}` has no text encoder ([files] text_encoder), so new class names and text targets cannot be embedded",
                self.bundle_name
            )),
        }
    }
}

/// One embedding per text, of the class dimension, finite and not all zeros (the same
/// rules as the bundle's `vocabulary.json`: a zero row cannot be scored by cosine).
fn check_embeddings(texts: &[&str], out: &[Vec<f32>], d: usize) -> Result<(), String> {
    if out.len() != texts.len() {
        return Err(format!("text encoder: {} embeddings for {} texts", out.len(), texts.len()));
    }
    for (text, v) in texts.iter().zip(out) {
        if v.len() != d {
            return Err(format!("text encoder: embeddings have {} values, [model] class_dim = {d}", v.len()));
        }
        let norm = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
        if !(norm.is_finite() && norm >= 1e-6) {
            return Err(format!("text encoder: the embedding of `{text}` is all zeros or not finite (norm {norm})"));
        }
    }
    Ok(())
}

/// Trimmed names; empty or duplicate names and overlong lists are errors.
fn check_names(names: &[String]) -> Result<Vec<String>, String> {
    if names.len() > MAX_NAMES {
        return Err(format!("vocabulary of {} names exceeds the limit of {MAX_NAMES}", names.len()));
    }
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for n in names.iter().map(|n| n.trim()) {
        if n.is_empty() {
            return Err("vocabulary: class names must not be empty".into());
        }
        if out.iter().any(|o| o == n) {
            return Err(format!("vocabulary: class `{n}` is given twice"));
        }
        out.push(n.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_checked() {
        assert_eq!(check_names(&[" disc ".into(), "red square".into()]).unwrap(), vec!["disc", "red square"]);
        assert_eq!(check_names(&["a".into(), " ".into()]).unwrap_err(), "vocabulary: class names must not be empty");
        assert_eq!(check_names(&["a".into(), "a ".into()]).unwrap_err(), "vocabulary: class `a` is given twice");
        let many: Vec<String> = (0..=MAX_NAMES).map(|i| i.to_string()).collect();
        assert!(check_names(&many).unwrap_err().contains("exceeds the limit"));
    }

    #[test]
    fn text_embeddings_must_be_usable_rows() {
        let ok = vec![vec![0.6, 0.8], vec![1.0, 0.0]];
        check_embeddings(&["a", "b"], &ok, 2).unwrap();
        let zero = vec![vec![0.6, 0.8], vec![0.0, 0.0]];
        assert_eq!(
            check_embeddings(&["a", "b"], &zero, 2).unwrap_err(),
            "text encoder: the embedding of `b` is all zeros or not finite (norm 0)"
        );
        let nan = vec![vec![f32::NAN, 0.8]];
        assert!(check_embeddings(&["a"], &nan, 2).unwrap_err().contains("`a` is all zeros or not finite"));
        assert_eq!(check_embeddings(&["a"], &ok, 2).unwrap_err(), "text encoder: 2 embeddings for 1 texts");
        assert_eq!(check_embeddings(&["a"], &[vec![1.0]], 2).unwrap_err(), "text encoder: embeddings have 1 values, [model] class_dim = 2");
    }
}
