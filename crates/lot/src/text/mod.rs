//! Language modelling: corpora and vocabularies, bptt streams, LSTM and Transformer-XL, the trainer.

pub mod config;
pub mod corpus;
pub mod lstm;
pub mod models;
pub mod streams;
pub mod train;
pub mod txl;
