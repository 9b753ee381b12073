using M3ter.Auth.Internal;

namespace M3ter.Auth.Tests.Internal;

public sealed class BearerTokenSyntaxTests
{
    [Theory]
    [InlineData("abc")]
    [InlineData("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-_~+/")]
    [InlineData("a=")]
    [InlineData("a==")]
    public void AWellFormedToken_HasNoInvalidCharacter(string token)
    {
        Assert.Equal(-1, BearerTokenSyntax.FindInvalid(token));
    }

    [Theory]
    [InlineData("", 0)] // empty
    [InlineData("=abc", 0)] // padding before any token character
    [InlineData("tö", 1)] // not ASCII
    [InlineData("to ken", 2)] // white space
    [InlineData("ab=c", 3)] // a token character after the padding
    [InlineData("abc\r\n", 3)] // a line break (header injection)
    public void TheFirstCharacterThatCannotStandThere_IsFound(string token, int position)
    {
        Assert.Equal(position, BearerTokenSyntax.FindInvalid(token));
    }

    [Fact]
    public void TheDescription_NamesTheSettingAndThePosition_NotTheToken()
    {
        string message = BearerTokenSyntax.Describe("AccessToken", BearerTokenSyntax.FindInvalid("secret part ünd more"));

        Assert.Contains("AccessToken is not a valid bearer token", message, System.StringComparison.Ordinal);
        Assert.Contains("character 7", message, System.StringComparison.Ordinal);
        Assert.DoesNotContain("secret", message, System.StringComparison.Ordinal);
    }
}
