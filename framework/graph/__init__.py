"""Graph models: layers called on symbolic nodes, as in Keras' functional API."""
