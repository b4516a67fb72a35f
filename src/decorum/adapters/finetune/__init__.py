"""The fine-tuned half: ``decorum finetune`` (data checks, LoRA training, model card, router calibration),
``decorum compare`` (fine-tuning vs prompt engineering), and the example helpdesk domain (``domains/``)."""
