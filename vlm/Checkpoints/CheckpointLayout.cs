namespace InternVit.SK.Checkpoints;

/// <summary>How an InternVL checkpoint folder spells its config and weight names. Both convert to the same model.</summary>
public enum CheckpointLayout
{
    /// <summary>
    /// OpenGVLab's own layout (<c>InternVLChatModel</c>): config.json with <c>llm_config</c>, weights <c>vision_model.*</c>,
    /// <c>mlp1.*</c>, <c>language_model.*</c>, the vision attention's q/k/v fused in one <c>qkv</c> projection.
    /// </summary>
    Original,

    /// <summary>
    /// The Hugging Face-native layout of the "-hf" repositories (transformers' <c>InternVLForConditionalGeneration</c>):
    /// config.json with <c>vision_config</c>/<c>text_config</c>, weights <c>vision_tower.*</c>,
    /// <c>multi_modal_projector.*</c>, <c>language_model.*</c> (or their <c>model.</c>-prefixed spellings and
    /// <c>lm_head</c>), the vision attention's q/k/v as separate projections, tiling in preprocessor_config.json.
    /// </summary>
    HuggingFace,
}
