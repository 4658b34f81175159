//! Custom buffer meta carrying one frame's segmentation results (filled by helpers).
