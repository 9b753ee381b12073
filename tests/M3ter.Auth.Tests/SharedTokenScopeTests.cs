using System;

namespace M3ter.Auth.Tests;

/// <summary>What a <see cref="SharedTokenScope"/> derives from the secret (HKDF-SHA256), and what it never shows.</summary>
public sealed class SharedTokenScopeTests
{
    [Fact]
    public void SharedTokenScope_DerivesStableKeysPerPurposeFromTheSecret_AndNeverShowsIt()
    {
        var a = new SharedTokenScope(new Uri("https://api.m3ter.com/"), "key", TestOptions.Secret);
        var b = new SharedTokenScope(new Uri("https://api.m3ter.com/"), "key", TestOptions.Secret);
        var rotated = new SharedTokenScope(new Uri("https://api.m3ter.com/"), "key", TestOptions.Secret + "-rotated");

        Assert.Equal(a.DeriveKey("name", 32), b.DeriveKey("name", 32));
        Assert.NotEqual(a.DeriveKey("name", 32), a.DeriveKey("encryption", 32));
        Assert.NotEqual(a.DeriveKey("name", 32), rotated.DeriveKey("name", 32));
        Assert.NotEqual(a.LeaseOwner, b.LeaseOwner);
        Assert.DoesNotContain(TestOptions.Secret, a.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("key", a.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void SharedTokenScope_DeriveKey_IsHkdfSha256()
    {
        // RFC 5869 has no vector with this salt, so compare with the framework's HKDF (same extract and expand).
        var scope = new SharedTokenScope(new Uri("https://api.m3ter.com/"), "key", "secret");
        byte[] expected = System.Security.Cryptography.HKDF.DeriveKey(
            System.Security.Cryptography.HashAlgorithmName.SHA256,
            System.Text.Encoding.UTF8.GetBytes("secret"),
            70,
            System.Text.Encoding.UTF8.GetBytes("M3ter.Auth shared token cache v1"),
            System.Text.Encoding.UTF8.GetBytes("purpose"));

        Assert.Equal(expected, scope.DeriveKey("purpose", 70));
    }
}
