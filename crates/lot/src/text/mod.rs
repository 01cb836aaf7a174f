//! Language modelling: corpora and vocabularies, bptt streams, LSTM and Transformer-XL, the trainer.

pub mod config;
pub mod corpus;
