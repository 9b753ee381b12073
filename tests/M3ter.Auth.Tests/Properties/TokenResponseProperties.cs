using System;
using System.Globalization;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Text;
using CsCheck;
using M3ter.Auth.Fuzz;
using M3ter.Auth.Internal;
using Xunit.Abstractions;

namespace M3ter.Auth.Tests.Properties;

/// <summary>
/// What the token endpoint may answer, any status, content type and bytes: a token that can go on a request, or an
/// <see cref="M3terAuthException"/> that neither echoes the secret nor hangs. Nothing else. And a pre-issued token's
/// <c>exp</c> reader, for any string.
/// </summary>
public sealed class TokenResponseProperties(ITestOutputHelper output)
{
    private static readonly Gen<string> JsonValue = Gen.OneOf(
        Gen.String.Select(s => JsonString(s)),
        Gen.OneOf("\"abc\"", "\"töken\"", "\"a b\"", "\"\"", "\"  \"", "\"a\\u0000b\"", "\"Bearer\"", "\"bearer\"", "\"mac\"", "\"3600\"", "\"1e3\"", "\"-5\""),
        Gen.Long.Select(v => v.ToString(CultureInfo.InvariantCulture)),
        Gen.Int[-10, 100_000].Select(v => v.ToString(CultureInfo.InvariantCulture)),
        Gen.Double.Select(v => double.IsFinite(v) ? v.ToString("R", CultureInfo.InvariantCulture) : "1e400"),
        Gen.OneOf("true", "false", "null", "[]", "{}", "[1,2]", "{\"a\":1}", "1e400", "-0", "0.5", "99999999999999999999999"));

    private static readonly Gen<string> Key = Gen.OneOf("access_token", "access_token", "expires_in", "expires_in", "token_type", "scope", "error", "error_description", "message", "ACCESS_TOKEN", "x");

    private static readonly Gen<string> JsonObject = Gen.Select(Key, JsonValue).Array[0, 6]
        .Select(members => "{" + string.Join(",", members.Select(m => JsonString(m.Item1) + ":" + m.Item2)) + "}");

    private static readonly Gen<byte[]> Body = Gen.OneOf(
        JsonObject.Select(Encoding.UTF8.GetBytes),
        JsonObject.Select(j => Encoding.UTF8.GetPreamble().Concat(Encoding.UTF8.GetBytes(j)).ToArray()),
        JsonObject.Select(j => Encoding.UTF8.GetBytes(j[..(j.Length / 2)])),
        Gen.Byte.Array[0, 200],
        Gen.String.Select(Encoding.UTF8.GetBytes),
        Gen.Const(Array.Empty<byte>()));

    private static readonly Gen<HttpStatusCode> Status = Gen.OneOf(
        Gen.Const(HttpStatusCode.OK), Gen.Const(HttpStatusCode.OK), Gen.Const(HttpStatusCode.OK),
        Gen.OneOf(HttpStatusCode.Created, HttpStatusCode.NoContent, HttpStatusCode.MovedPermanently, HttpStatusCode.BadRequest, HttpStatusCode.Unauthorized,
            HttpStatusCode.Forbidden, HttpStatusCode.NotFound, HttpStatusCode.TooManyRequests, HttpStatusCode.InternalServerError, HttpStatusCode.ServiceUnavailable),
        Gen.Int[100, 599].Select(s => (HttpStatusCode)s));

    private static readonly Gen<string?> ContentType = Gen.OneOf<string?>(
        "application/json", "application/json", "application/json; charset=utf-8", "text/plain", "text/html", "application/problem+json",
        "application/json; charset=latin1", "application/x-www-form-urlencoded", null, "", "garbage/;;;", "application/json; charset=\"utf-16\"");

    [Fact]
    public void AnyAnswer_IsAUsableTokenOrAnM3terAuthException_WithoutTheSecret() =>
        Gen.Select(Status, ContentType, Body).Run(answer =>
        {
            var client = new TokenClient(new HttpClient(new FixedAnswer(answer.Item1, answer.Item2, answer.Item3)), TestOptions.Create(o => o.MaxRetryAttempts = 0));
            try
            {
                M3terToken token = client.RequestTokenAsync().WaitAsync(TimeSpan.FromSeconds(5)).GetAwaiter().GetResult();

                Assert.True(BearerTokenSyntax.FindInvalid(token.AccessToken) < 0, $"'{token.AccessToken}' cannot go in an Authorization header");
                Assert.True(token.ExpiresAt > token.IssuedAt, "the token expires before it was issued");
                using var request = new HttpRequestMessage();
                Assert.True(request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + token.AccessToken));
            }
            catch (M3terAuthException ex)
            {
                Assert.DoesNotContain(TestOptions.Secret, ex.ToString(), StringComparison.Ordinal);
                Assert.DoesNotContain(TestOptions.BasicValue, ex.ToString(), StringComparison.Ordinal);
            }
        }, output, PropertyRuns.Some, a => $"{(int)a.Item1} {a.Item2 ?? "(no content type)"}: {Convert.ToBase64String(a.Item3)} ({Encoding.UTF8.GetString(a.Item3)})");

    [Fact]
    public void TheEndpointEchoingTheCredentials_NeverPutsThemInTheError() =>
        Gen.Select(Status.Where(s => s != HttpStatusCode.OK), Gen.OneOf("error", "error_description", "message", "token_type", "access_token")).Run(answer =>
        {
            string body = $"{{{JsonString(answer.Item2)}:{JsonString("Basic " + TestOptions.BasicValue + " " + TestOptions.Secret)}}}";
            var client = new TokenClient(new HttpClient(new FixedAnswer(answer.Item1, "application/json", Encoding.UTF8.GetBytes(body))), TestOptions.Create(o => o.MaxRetryAttempts = 0));

            var ex = Assert.ThrowsAny<M3terAuthException>(() => client.RequestTokenAsync().WaitAsync(TimeSpan.FromSeconds(5)).GetAwaiter().GetResult());

            Assert.DoesNotContain(TestOptions.Secret, ex.ToString(), StringComparison.Ordinal);
            Assert.DoesNotContain(TestOptions.BasicValue, ex.ToString(), StringComparison.Ordinal);
        }, output, PropertyRuns.Some);

    [Fact]
    public void JwtExpiry_OfAnyString_IsADateOrNothing_NeverAnException() =>
        Gen.OneOf(
            Gen.String,
            Gen.Select(Gen.String, Gen.String, Gen.String, (a, b, c) => a + "." + b + "." + c),
            Gen.Select(JsonObject, Gen.OneOf("exp", "EXP", "nbf"), JsonValue, (o, k, v) => "eyJhbGciOiJub25lIn0." + Base64Url($"{{{JsonString(k)}:{v}}}") + ".c2ln"),
            JsonObject.Select(o => "eyJhbGciOiJub25lIn0." + Base64Url(o) + ".c2ln"))
        .Run(token =>
        {
            DateTimeOffset? expiry = JwtExpiry.TryRead(token);
            Assert.True(expiry is null || expiry >= DateTimeOffset.MinValue);
        }, output, PropertyRuns.Many);

    private static string Base64Url(string json) => Convert.ToBase64String(Encoding.UTF8.GetBytes(json)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static string JsonString(string value) => System.Text.Json.JsonSerializer.Serialize(value, M3terTestJson.Default.String);
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class M3terTestJson : System.Text.Json.Serialization.JsonSerializerContext;
