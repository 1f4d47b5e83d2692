using InternVit.SK.Checkpoints;

namespace InternVit.SK.Tests.Export;

/// <summary>
/// A plain double-precision InternViT + extract_feature, written from the official modeling_intern_vit.py and
/// modeling_internvl_chat.py for tests: it covers what the model_a goldens do not (rms_norm, qk_normalization,
/// ps_version v1, select_layer). Views and permutes are done literally, like torch does them.
/// </summary>
internal sealed class InternVitReference(InternVLConfig config, SafetensorsCheckpoint weights)
{
    private readonly InternVisionConfig _v = config.VisionConfig;

    private double[] W(string key) => Array.ConvertAll(weights.ReadFloat32(key), x => (double)x);

    /// <summary>pixel_values [N,3,S,S] → features [N, tokens, H].</summary>
    public double[] Forward(float[] pixelValues, int tiles)
    {
        int s = config.ImageSize, p = _v.PatchSize, side = s / p, c = _v.HiddenSize, tokens = side * side + 1;
        var output = new List<double>();
        for (int t = 0; t < tiles; t++)
        {
            // embeddings
            var conv = W("vision_model.embeddings.patch_embedding.weight");
            var convBias = W("vision_model.embeddings.patch_embedding.bias");
            var cls = W("vision_model.embeddings.class_embedding");
            var pos = W("vision_model.embeddings.position_embedding");
            var x = new double[tokens * c];
            for (int ch = 0; ch < c; ch++) x[ch] = cls[ch] + pos[ch];
            for (int py = 0; py < side; py++)
                for (int px = 0; px < side; px++)
                    for (int o = 0; o < c; o++)
                    {
                        double sum = convBias[o];
                        for (int i = 0; i < 3; i++)
                            for (int ky = 0; ky < p; ky++)
                                for (int kx = 0; kx < p; kx++)
                                    sum += conv[((o * 3 + i) * p + ky) * p + kx] * pixelValues[((t * 3 + i) * s + py * p + ky) * s + px * p + kx];
                        int token = 1 + py * side + px;
                        x[token * c + o] = sum + pos[token * c + o];
                    }

            int layers = config.SelectLayer < 0 ? _v.NumHiddenLayers + 1 + config.SelectLayer : config.SelectLayer;
            for (int l = 0; l < layers; l++) x = Layer($"vision_model.encoder.layers.{l}", x, tokens);

            // extract_feature: drop CLS, reshape [side, side, C], pixel_shuffle, reshape [tokens, C'], mlp1
            var (shuffled, shape) = PixelShuffle(x.AsSpan(c).ToArray(), [1, side, side, c], config.DownsampleRatio, config.PsVersion);
            int rows = shape[1] * shape[2], width = shape[3];
            var h = LayerNorm(shuffled, rows, width, W("mlp1.0.weight"), W("mlp1.0.bias"), 1e-5);
            h = Linear(h, rows, W("mlp1.1.weight"), W("mlp1.1.bias"));
            h = Array.ConvertAll(h, Gelu);
            h = Linear(h, rows, W("mlp1.3.weight"), W("mlp1.3.bias"));
            output.AddRange(h);
        }
        return output.ToArray();
    }

    private double[] Layer(string l, double[] x, int tokens)
    {
        int c = _v.HiddenSize;
        var h = Norm($"{l}.norm1", x, tokens);
        h = Attention($"{l}.attn", h, tokens);
        var ls1 = W($"{l}.ls1");
        var y = new double[x.Length];
        for (int i = 0; i < x.Length; i++) y[i] = x[i] + ls1[i % c] * h[i];
        h = Norm($"{l}.norm2", y, tokens);
        h = Linear(h, tokens, W($"{l}.mlp.fc1.weight"), W($"{l}.mlp.fc1.bias"));
        h = Array.ConvertAll(h, Gelu);
        h = Linear(h, tokens, W($"{l}.mlp.fc2.weight"), W($"{l}.mlp.fc2.bias"));
        var ls2 = W($"{l}.ls2");
        for (int i = 0; i < y.Length; i++) y[i] += ls2[i % c] * h[i];
        return y;
    }

    private double[] Norm(string module, double[] x, int rows) => _v.NormType == "layer_norm"
        ? LayerNorm(x, rows, _v.HiddenSize, W($"{module}.weight"), W($"{module}.bias"), _v.LayerNormEps)
        : RmsNorm(x, rows, _v.HiddenSize, W($"{module}.weight"), _v.LayerNormEps);

    private double[] Attention(string m, double[] x, int n)
    {
        int c = _v.HiddenSize, heads = _v.NumAttentionHeads, d = c / heads;
        var qkv = Linear(x, n, W($"{m}.qkv.weight"), _v.QkvBias ? W($"{m}.qkv.bias") : null);
        var q = new double[n * c]; var k = new double[n * c]; var v = new double[n * c];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < c; j++)
            {
                q[i * c + j] = qkv[i * 3 * c + j];
                k[i * c + j] = qkv[i * 3 * c + c + j];
                v[i * c + j] = qkv[i * 3 * c + 2 * c + j];
            }
        if (_v.QkNormalization)
        {
            q = RmsNorm(q, n, c, W($"{m}.q_norm.weight"), _v.LayerNormEps);
            k = RmsNorm(k, n, c, W($"{m}.k_norm.weight"), _v.LayerNormEps);
        }
        var context = new double[n * c];
        var scores = new double[n];
        double scale = 1 / Math.Sqrt(d);
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < n; i++)
            {
                double max = double.NegativeInfinity;
                for (int j = 0; j < n; j++)
                {
                    double dot = 0;
                    for (int e = 0; e < d; e++) dot += q[i * c + h * d + e] * scale * k[j * c + h * d + e];
                    scores[j] = dot;
                    max = Math.Max(max, dot);
                }
                double total = 0;
                for (int j = 0; j < n; j++) total += scores[j] = Math.Exp(scores[j] - max);
                for (int j = 0; j < n; j++)
                    for (int e = 0; e < d; e++) context[i * c + h * d + e] += scores[j] / total * v[j * c + h * d + e];
            }
        return Linear(context, n, W($"{m}.proj.weight"), W($"{m}.proj.bias"));
    }

    /// <summary>The official pixel_shuffle on [n, w, h, c], then extract_feature's reshape to [n, -1, c'] (returned as [n, a, b, c']).</summary>
    private static (double[] Data, int[] Shape) PixelShuffle(double[] x, int[] shape, double r, string version)
    {
        int n = shape[0], w = shape[1], h = shape[2], c = shape[3];
        // x.view(n, w, int(h * r), int(c / r)) is a reshape of contiguous data: only the shape changes.
        int[] s1 = [n, w, (int)(h * r), (int)(c / r)];
        var (y, s2) = Permute0213(x, s1);                        // permute(0, 2, 1, 3).contiguous()
        int[] s3 = [n, (int)(h * r), (int)(w * r), (int)(c / (r * r))];
        if (version == "v1") return (y, s3);
        return Permute0213(y, s3);
    }

    private static (double[], int[]) Permute0213(double[] x, int[] s)
    {
        var y = new double[x.Length];
        for (int a = 0; a < s[0]; a++)
            for (int b = 0; b < s[1]; b++)
                for (int c = 0; c < s[2]; c++)
                    for (int d = 0; d < s[3]; d++)
                        y[((a * s[2] + c) * s[1] + b) * s[3] + d] = x[((a * s[1] + b) * s[2] + c) * s[3] + d];
        return (y, [s[0], s[2], s[1], s[3]]);
    }

    private static double[] Linear(double[] x, int rows, double[] weight, double[]? bias)
    {
        int outF = weight.Length / (x.Length / rows), inF = x.Length / rows;
        var y = new double[rows * outF];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < outF; o++)
            {
                double sum = bias?[o] ?? 0;
                for (int i = 0; i < inF; i++) sum += x[r * inF + i] * weight[o * inF + i];
                y[r * outF + o] = sum;
            }
        return y;
    }

    private static double[] LayerNorm(double[] x, int rows, int width, double[] w, double[] b, double eps)
    {
        var y = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double mean = 0, var = 0;
            for (int i = 0; i < width; i++) mean += x[r * width + i];
            mean /= width;
            for (int i = 0; i < width; i++) var += (x[r * width + i] - mean) * (x[r * width + i] - mean);
            var /= width;
            for (int i = 0; i < width; i++) y[r * width + i] = (x[r * width + i] - mean) / Math.Sqrt(var + eps) * w[i] + b[i];
        }
        return y;
    }

    private static double[] RmsNorm(double[] x, int rows, int width, double[] w, double eps)
    {
        var y = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double ms = 0;
            for (int i = 0; i < width; i++) ms += x[r * width + i] * x[r * width + i];
            ms /= width;
            for (int i = 0; i < width; i++) y[r * width + i] = x[r * width + i] / Math.Sqrt(ms + eps) * w[i];
        }
        return y;
    }

    /// <summary>Exact GELU, x·Φ(x), with erf from its Maclaurin series (|x| small) or continued fraction (tails).</summary>
    private static double Gelu(double x) => 0.5 * x * (1 + Erf(x / Math.Sqrt(2)));

    private static double Erf(double x)
    {
        double ax = Math.Abs(x);
        if (ax < 3)
        {
            double sum = 0, term = x;
            for (int n = 0; n < 200; n++)
            {
                sum += term / (2 * n + 1);
                term *= -x * x / (n + 1);
                if (Math.Abs(term) < 1e-17) break;
            }
            return 2 / Math.Sqrt(Math.PI) * sum;
        }
        // erfc by continued fraction (Lentz), accurate for |x| >= 3
        double f = ax, c = ax, d = 0, tiny = 1e-300;
        for (int i = 1; i < 200; i++)
        {
            double a = i / 2.0;
            d = ax + a * d; d = Math.Abs(d) < tiny ? tiny : d; d = 1 / d;
            c = ax + a / c; c = Math.Abs(c) < tiny ? tiny : c;
            f *= c * d;
            if (Math.Abs(c * d - 1) < 1e-16) break;
        }
        double erfc = Math.Exp(-ax * ax) / Math.Sqrt(Math.PI) / f;
        return Math.Sign(x) * (1 - erfc);
    }
}
