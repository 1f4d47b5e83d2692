namespace InternVit.SK.Text;

/// <summary>Python's <c>str</c> operations the official chat code uses, where .NET's differ.</summary>
internal static class PythonText
{
    /// <summary>
    /// <c>str.isspace</c> for one character: .NET's whitespace plus U+001C..U+001F (Python counts the information
    /// separators as whitespace, .NET does not).
    /// </summary>
    public static bool IsSpace(char c) => char.IsWhiteSpace(c) || (c >= '\u001C' && c <= '\u001F');

    /// <summary><c>str.strip()</c>: removes leading and trailing whitespace as Python defines it.</summary>
    public static string Strip(string text)
    {
        int start = 0, end = text.Length;
        while (start < end && IsSpace(text[start])) start++;
        while (end > start && IsSpace(text[end - 1])) end--;
        return text[start..end];
    }
}
