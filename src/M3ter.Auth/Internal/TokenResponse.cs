using System;
using System.Globalization;
using System.Text.Json;

namespace M3ter.Auth.Internal;

/// <summary>
/// The body of a successful token response, read with <see cref="Utf8JsonReader"/> (no reflection, trimming-safe).
/// Lenient where servers differ harmlessly (a byte order mark, <c>expires_in</c> as <c>"18000"</c> or
/// <c>18000.0</c>), strict about what makes a token, and precise about what was wrong, without echoing the body.
/// </summary>
internal sealed class TokenResponse
{
    private static readonly byte[] Utf8Bom = { 0xEF, 0xBB, 0xBF };

    public string? AccessToken { get; private set; }

    public string? TokenType { get; private set; }

    /// <summary>Gets the lifetime in whole seconds (a fraction is dropped, so a token is never trusted longer than granted).</summary>
    public long? ExpiresIn { get; private set; }

    /// <summary>Parses <paramref name="body"/>; on failure <paramref name="problem"/> says what is wrong, as a phrase.</summary>
    public static TokenResponse? Parse(ReadOnlySpan<byte> body, out string? problem)
    {
        if (body.StartsWith(Utf8Bom))
        {
            body = body.Slice(Utf8Bom.Length);
        }

        if (IsWhiteSpace(body))
        {
            problem = "the body is empty";
            return null;
        }

        var reader = new Utf8JsonReader(body, isFinalBlock: true, state: default);
        try
        {
            return Read(ref reader, out problem);
        }
        catch (JsonException ex)
        {
            problem = EndsTooSoon(body)
                ? "the body is not valid JSON (it ends too soon)"
                : "the body is not valid JSON: " + Where(body, ex);
            return null;
        }
    }

    private static TokenResponse? Read(ref Utf8JsonReader reader, out string? problem)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            problem = "the body is " + Describe(reader.TokenType) + ", not an object";
            return null;
        }

        var response = new TokenResponse();
        problem = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("access_token"u8))
            {
                reader.Read();
                response.AccessToken = ReadString(ref reader, "access_token", ref problem) ?? response.AccessToken;
            }
            else if (reader.ValueTextEquals("token_type"u8))
            {
                reader.Read();
                response.TokenType = ReadString(ref reader, "token_type", ref problem) ?? response.TokenType;
            }
            else if (reader.ValueTextEquals("expires_in"u8))
            {
                reader.Read();
                response.ExpiresIn = ReadSeconds(ref reader, ref problem) ?? response.ExpiresIn;
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        // Anything after the object is an error the reader reports (trailing data is not allowed).
        while (reader.Read())
        {
        }

        return problem is null ? response : null;
    }

    private static string? ReadString(ref Utf8JsonReader reader, string name, ref string? problem)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.String:
                return reader.GetString();
            case JsonTokenType.Null:
                return null;
            default:
                problem ??= name + " is not a string";
                reader.Skip();
                return null;
        }
    }

    private static long? ReadSeconds(ref Utf8JsonReader reader, ref string? problem)
    {
        double seconds;
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                return null;
            case JsonTokenType.Number when reader.TryGetInt64(out long whole):
                return whole;
            case JsonTokenType.Number when reader.TryGetDouble(out seconds) && IsFinite(seconds):
                break;
            case JsonTokenType.String when ParseSeconds(reader.GetString()!, out seconds):
                break;
            default:
                problem ??= "expires_in is not a number of seconds";
                reader.Skip();
                return null;
        }

        // Never trusted for longer than granted: a fraction is dropped. Out-of-range values are clamped, then capped.
        double floor = Math.Floor(seconds);
        return floor >= long.MaxValue ? long.MaxValue : floor <= long.MinValue ? long.MinValue : (long)floor;
    }

    private static bool ParseSeconds(string text, out double seconds)
    {
        if (long.TryParse(text.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long whole))
        {
            seconds = whole;
            return true;
        }

        return double.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out seconds) && IsFinite(seconds);
    }

    private static bool IsFinite(double value) => !double.IsNaN(value) && !double.IsInfinity(value);

    private static string Describe(JsonTokenType type) => type switch
    {
        JsonTokenType.Null => "JSON null",
        JsonTokenType.StartArray => "a JSON array",
        JsonTokenType.String => "a JSON string",
        JsonTokenType.Number => "a JSON number",
        JsonTokenType.True or JsonTokenType.False => "a JSON boolean",
        _ => "not a JSON object",
    };

    /// <summary>Whether the body is valid JSON so far but stops before its value is complete (a truncated response).</summary>
    private static bool EndsTooSoon(ReadOnlySpan<byte> body)
    {
        var reader = new Utf8JsonReader(body, isFinalBlock: false, state: default);
        try
        {
            while (reader.Read())
            {
                if (reader.CurrentDepth == 0 && reader.TokenType is not JsonTokenType.StartObject and not JsonTokenType.StartArray)
                {
                    return false; // the root value is complete
                }
            }

            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>Where the body stops being JSON: the byte offset, and the character there if it is printable ASCII (one character, never a value).</summary>
    private static string Where(ReadOnlySpan<byte> body, JsonException ex)
    {
        long line = ex.LineNumber ?? 0;
        long position = ex.BytePositionInLine ?? 0;
        if (line != 0)
        {
            return string.Format(CultureInfo.InvariantCulture, "at line {0}, byte {1}", line + 1, position);
        }

        if (position < body.Length && body[(int)position] is >= 0x21 and <= 0x7E)
        {
            return string.Format(CultureInfo.InvariantCulture, "'{0}' at byte {1}", (char)body[(int)position], position);
        }

        return string.Format(CultureInfo.InvariantCulture, "at byte {0}", position);
    }

    private static bool IsWhiteSpace(ReadOnlySpan<byte> body)
    {
        foreach (byte b in body)
        {
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
            {
                return false;
            }
        }

        return true;
    }
}
