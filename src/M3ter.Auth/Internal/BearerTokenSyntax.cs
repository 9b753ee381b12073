namespace M3ter.Auth.Internal;

/// <summary>
/// RFC 6750's b64token, the only form a bearer token can take in an <c>Authorization</c> header:
/// <c>1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="</c>. A token outside it (a non-ASCII letter,
/// white space) would fail every request for its whole life, so it is refused where it comes in.
/// </summary>
internal static class BearerTokenSyntax
{
    /// <summary>Returns the zero-based position of the first character that cannot stand there, or -1 when the token is well formed.</summary>
    public static int FindInvalid(string token)
    {
        if (token.Length == 0)
        {
            return 0;
        }

        int i = 0;
        while (i < token.Length && IsTokenCharacter(token[i]))
        {
            i++;
        }

        if (i == 0)
        {
            return 0; // at least one token character must come before any padding
        }

        while (i < token.Length && token[i] == '=')
        {
            i++;
        }

        return i == token.Length ? -1 : i;
    }

    /// <summary>Describes what is wrong without showing any of the token.</summary>
    public static string Describe(string setting, int position) =>
        string.Format(
            System.Globalization.CultureInfo.InvariantCulture,
            "{0} is not a valid bearer token (RFC 6750 allows letters, digits and - . _ ~ + / with '=' only at the end): character {1} is not allowed there",
            setting,
            position + 1);

    private static bool IsTokenCharacter(char c) =>
        c is (>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '.' or '_' or '~' or '+' or '/';
}
