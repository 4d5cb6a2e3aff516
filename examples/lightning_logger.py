"""A PyTorch Lightning script reporting to grokwatch through its logger: one import.

An MLP learns modular addition, (a + b) mod p, from half of all pairs; the LightningModule
logs `train_loss`/`train_acc` each step and `val_loss`/`val_acc` each epoch, as usual.

    python examples/lightning_logger.py --epochs 20            # alone: logs to ./grokwatch-logs/
    python examples/lightning_logger.py --csv lightning_logs   # and Lightning's CSVLogger beside it

Works with `import lightning.pytorch` as well as `import pytorch_lightning`.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

try:
    import lightning.pytorch as pl
except ImportError:
    import pytorch_lightning as pl

from grokwatch.integrations.lightning import GrokwatchLogger


class ModularAddition(pl.LightningModule):
    def __init__(self, p: int = 23, lr: float = 3e-3, weight_decay: float = 1.0):
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Embedding(p, 16), torch.nn.Flatten(),
                                       torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, p))

    def _step(self, batch):
        ab, y = batch
        logits = self.net(ab)
        return F.cross_entropy(logits, y), (logits.argmax(1) == y).float().mean()

    def training_step(self, batch, batch_idx):
        loss, acc = self._step(batch)
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        self.log("train_acc", acc)
        return loss

    def validation_step(self, batch, batch_idx):
        loss, acc = self._step(batch)
        self.log("val_loss", loss)
        self.log("val_acc", acc)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.hparams.lr,
                                 weight_decay=self.hparams.weight_decay)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--p", type=int, default=23)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--csv", default=None, help="also log with Lightning's CSVLogger here")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    pl.seed_everything(args.seed, verbose=False)
    pairs = torch.cartesian_prod(torch.arange(args.p), torch.arange(args.p))
    labels = (pairs[:, 0] + pairs[:, 1]) % args.p
    order = torch.randperm(len(pairs))
    half = len(order) // 2
    train = torch.utils.data.TensorDataset(pairs[order[:half]], labels[order[:half]])
    test = torch.utils.data.TensorDataset(pairs[order[half:]], labels[order[half:]])

    loggers = [GrokwatchLogger()]
    if args.csv:
        loggers.append(pl.loggers.CSVLogger(args.csv))
    trainer = pl.Trainer(max_epochs=args.epochs, logger=loggers, log_every_n_steps=1,
                         accelerator="cpu", enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    trainer.fit(ModularAddition(args.p), torch.utils.data.DataLoader(train, batch_size=64, shuffle=True),
                torch.utils.data.DataLoader(test, batch_size=512))


if __name__ == "__main__":
    main()
