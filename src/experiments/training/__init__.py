"""Inside a training job: the recipe, the LightningModule, callbacks, loggers, checkpoints, signals, DDP ranks."""
