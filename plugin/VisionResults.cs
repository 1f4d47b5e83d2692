using System.ComponentModel;

namespace InternVit.SK.Plugin;

/// <summary>Token counts of one tool call.</summary>
/// <param name="PromptTokens">Tokens in the prompt, image tokens included.</param>
/// <param name="ImageTokens">Of those, image tokens (tokens per tile × tiles, 256 per tile for 448-pixel tiles); null when the
/// backend does not report them (vLLM, lmdeploy and the OpenAI protocol have no such count).</param>
/// <param name="CompletionTokens">Tokens generated.</param>
public sealed record VisionUsage(int PromptTokens, int? ImageTokens, int CompletionTokens);

/// <summary>What <c>describe_image</c> returns.</summary>
/// <param name="Description">The model's description.</param>
/// <param name="Detail">The detail level used: brief, normal or detailed.</param>
/// <param name="Usage">Token counts.</param>
public sealed record ImageDescription(string Description, string Detail, VisionUsage Usage);

/// <summary>What <c>ask_image</c> and <c>answer_document_question</c> return.</summary>
/// <param name="Answer">The model's answer.</param>
/// <param name="Images">How many images (pages) were read.</param>
/// <param name="Usage">Token counts.</param>
public sealed record ImageAnswer(string Answer, int Images, VisionUsage Usage);

/// <summary>What <c>extract_text</c> returns.</summary>
/// <param name="Text">The text read, line breaks kept, in reading order.</param>
/// <param name="Lines">The same text split into lines (empty lines dropped).</param>
/// <param name="Usage">Token counts.</param>
public sealed record ExtractedText(string Text, IReadOnlyList<string> Lines, VisionUsage Usage);

/// <summary>A box in pixels of the original image (after EXIF orientation), corners inclusive of the region.</summary>
/// <param name="X1">Left edge.</param>
/// <param name="Y1">Top edge.</param>
/// <param name="X2">Right edge.</param>
/// <param name="Y2">Bottom edge.</param>
/// <param name="Label">What the box shows: the model's <c>&lt;ref&gt;</c> text, or the phrase asked for.</param>
[Description("A bounding box in pixels of the original image.")]
public sealed record LocatedBox(int X1, int Y1, int X2, int Y2, string Label);

/// <summary>What <c>locate</c> returns.</summary>
/// <param name="Phrase">The phrase looked for.</param>
/// <param name="Boxes">The boxes found (none when the model gave no coordinates).</param>
/// <param name="ImageWidth">Width of the image the boxes refer to.</param>
/// <param name="ImageHeight">Height of the image the boxes refer to.</param>
/// <param name="RawAnswer">The model's output with its grounding tags, for inspection.</param>
/// <param name="Usage">Token counts.</param>
public sealed record LocateResult(string Phrase, IReadOnlyList<LocatedBox> Boxes, int ImageWidth, int ImageHeight, string RawAnswer, VisionUsage Usage);
