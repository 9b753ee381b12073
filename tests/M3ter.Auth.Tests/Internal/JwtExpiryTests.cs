using System;
using M3ter.Auth.Internal;

namespace M3ter.Auth.Tests;

/// <summary>Reading the <c>exp</c> claim of a pre-issued JWT (<see cref="JwtExpiry"/>), without validating it.</summary>
public sealed class JwtExpiryTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(3600)]
    public void JwtExpiry_ReadsExp(long offset)
    {
        DateTimeOffset expiresAt = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000 + offset);

        Assert.Equal(expiresAt, JwtExpiry.TryRead(StaticTokenTests.Jwt(expiresAt)));
    }

    [Theory]
    [InlineData("")]
    [InlineData("a.b")]
    [InlineData("a..c")]
    [InlineData("eyJhbGciOiJub25lIn0.eyJleHAiOiJzb29uIn0.x")] // exp is a string
    [InlineData("eyJhbGciOiJub25lIn0.W10.x")]                  // payload is an array
    public void JwtExpiry_NotAJwtWithNumericExp_IsNull(string token)
    {
        Assert.Null(JwtExpiry.TryRead(token));
    }

    [Theory]
    [InlineData("1800000000.75", 1_800_000_000)]
    [InlineData("1800000000.0", 1_800_000_000)]
    [InlineData("1.8e9", 1_800_000_000)]
    public void JwtExpiry_ExpWithAFraction_IsReadAndRoundedDown(string exp, long seconds)
    {
        // RFC 7519's NumericDate may have a fraction; rounded down, the token is never trusted past its exp.
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(seconds), JwtExpiry.TryRead(StaticTokenTests.JwtWithExp(exp)));
    }

    [Theory]
    [InlineData("1e300")]
    [InlineData("99999999999999999999")]
    public void JwtExpiry_ExpBeyondTheCalendar_IsTheLatestDate(string exp)
    {
        Assert.Equal(DateTimeOffset.MaxValue, JwtExpiry.TryRead(StaticTokenTests.JwtWithExp(exp)));
    }
}
