"""Times the official InternViT-300M (OpenGVLab's modeling_intern_vit.py, eager attention) in PyTorch on the CPU at the
InternVL2.5-1B vision shape with random weights: one 448x448 tile, fp32 and bf16, medians after a warm-up. With
--export it also writes the plain torch.onnx.export of the same model (the "plain export" anchor of issue 9).

The official files are not in this repository. Put modeling_intern_vit.py and configuration_intern_vit.py from
OpenGVLab/InternVL (internvl_chat/internvl/model/internvl_chat/, commit 2410d1d) into a folder `internvl_ref/` next to
this script, with an empty __init__.py. transformers/timm/einops are replaced by the minimal stand-ins below (only
what the module imports; nothing on the compute path of eager attention).

  apt-get install python3-torch libopenblas0-pthread
  /usr/bin/python3 internvit_torch.py [--threads 2] [--runs 3] [--bf16] [--export OUT.onnx]
"""
import argparse, statistics, sys, time, types
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn


def stand_ins():
    def module(name, **attrs):
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        sys.modules[name] = m

    class GELU(nn.Module):  # transformers' "gelu" is the exact (erf) GELU
        def forward(self, x):
            return F.gelu(x)

    @dataclass
    class BaseModelOutput:
        last_hidden_state: torch.Tensor = None
        hidden_states: Optional[Tuple] = None
        attentions: Optional[Tuple] = None

    @dataclass
    class BaseModelOutputWithPooling(BaseModelOutput):
        pooler_output: torch.Tensor = None

    class PreTrainedModel(nn.Module):
        def __init__(self, config, *args, **kwargs):
            super().__init__()
            self.config = config

    class PretrainedConfig:
        def __init__(self, **kwargs):
            self.output_hidden_states = kwargs.pop("output_hidden_states", False)
            self.use_return_dict = kwargs.pop("return_dict", True)
            self.__dict__.update(kwargs)

    class DropPath(nn.Identity):
        def __init__(self, *args, **kwargs):
            super().__init__()

    import logging
    module("transformers")
    module("transformers.activations", ACT2FN={"gelu": GELU()})
    module("transformers.modeling_outputs", BaseModelOutput=BaseModelOutput, BaseModelOutputWithPooling=BaseModelOutputWithPooling)
    module("transformers.modeling_utils", PreTrainedModel=PreTrainedModel)
    module("transformers.configuration_utils", PretrainedConfig=PretrainedConfig)
    module("transformers.utils", logging=types.SimpleNamespace(get_logger=logging.getLogger))
    module("timm"); module("timm.models"); module("timm.models.layers", DropPath=DropPath)
    module("einops", rearrange=None)  # only the flash-attention path uses it


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--export")
    a = ap.parse_args()
    stand_ins()
    from internvl_ref.configuration_intern_vit import InternVisionConfig
    from internvl_ref.modeling_intern_vit import InternVisionModel

    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    config = InternVisionConfig(image_size=448, patch_size=14, hidden_size=1024, num_attention_heads=16,
                                intermediate_size=4096, num_hidden_layers=24, qkv_bias=True, qk_normalization=False,
                                norm_type="layer_norm", use_flash_attn=False, layer_norm_eps=1e-6, hidden_act="gelu")
    model = InternVisionModel(config).eval()
    tile = torch.randn(1, 3, 448, 448)

    def bench(m, x, name):
        with torch.no_grad():
            m(pixel_values=x)
            times = []
            for _ in range(a.runs):
                start = time.perf_counter()
                m(pixel_values=x)
                times.append(time.perf_counter() - start)
        print(f"{name}: {statistics.median(times) * 1000:.0f} ms per tile (runs {[round(t * 1000) for t in times]})", flush=True)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    bench(model, tile, "fp32")
    if a.export:
        class LastHiddenState(nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, pixel_values):
                return self.m(pixel_values=pixel_values).last_hidden_state

        torch.onnx.export(LastHiddenState(model), (tile,), a.export, input_names=["pixel_values"],
                          output_names=["last_hidden_state"], opset_version=14)
        print(f"exported {a.export}", flush=True)
    if a.bf16:
        bench(model.to(torch.bfloat16), tile.to(torch.bfloat16), "bf16")


if __name__ == "__main__":
    main()
