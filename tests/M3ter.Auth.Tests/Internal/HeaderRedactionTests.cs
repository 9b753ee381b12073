using M3ter.Auth.Internal;

namespace M3ter.Auth.Tests.Internal;

public sealed class HeaderRedactionTests
{
    [Theory]
    [InlineData("Authorization", true)]
    [InlineData("authorization", true)]
    [InlineData("PROXY-AUTHORIZATION", true)]
    [InlineData("Content-Type", false)]
    [InlineData("X-Authorization-Hint", false)]
    public void TheCredentialHeaders_AreAuthorizationAndProxyAuthorization_InAnyCase(string header, bool credential)
    {
        Assert.Equal(credential, HeaderRedaction.IsCredential(header));
    }
}
