using System;
using System.Text.Json;

namespace M3ter.Auth.Internal;

/// <summary>Reads the <c>exp</c> claim of a JWT without validating it: only to know when a pre-issued token stops working.</summary>
internal static class JwtExpiry
{
    public static DateTimeOffset? TryRead(string token)
    {
        string[] parts = token.Split('.');
        if (parts.Length != 3 || parts[1].Length == 0)
        {
            return null;
        }

        try
        {
            using JsonDocument payload = JsonDocument.Parse(DecodeBase64Url(parts[1]));
            if (payload.RootElement.ValueKind != JsonValueKind.Object
                || !payload.RootElement.TryGetProperty("exp", out JsonElement exp)
                || exp.ValueKind != JsonValueKind.Number)
            {
                return null;
            }

            // RFC 7519's NumericDate may have a fraction: it is dropped, so the token is never trusted past its exp.
            if (exp.TryGetInt64(out long seconds))
            {
                return FromUnixSeconds(seconds);
            }

            double exact = exp.GetDouble();
            return double.IsNaN(exact) || double.IsInfinity(exact) ? null : FromUnixSeconds(Math.Floor(exact));
        }
        catch (Exception ex) when (ex is FormatException or JsonException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    private static DateTimeOffset FromUnixSeconds(double seconds) =>
        seconds >= MaxUnixSeconds ? DateTimeOffset.MaxValue
        : seconds <= MinUnixSeconds ? DateTimeOffset.MinValue
        : DateTimeOffset.FromUnixTimeSeconds((long)seconds);

    private static readonly double MaxUnixSeconds = DateTimeOffset.MaxValue.ToUnixTimeSeconds();
    private static readonly double MinUnixSeconds = DateTimeOffset.MinValue.ToUnixTimeSeconds();

    private static byte[] DecodeBase64Url(string value)
    {
        string base64 = value.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(base64.PadRight(base64.Length + ((4 - (base64.Length % 4)) % 4), '='));
    }
}
