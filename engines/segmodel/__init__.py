"""Small unified query-based segmenter (OMG-Seg / UniVS family): model, sampler, export, training."""
