using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Threading.Tasks;
using M3ter.Auth.Testing.Internal;

namespace M3ter.Auth.Testing.Tests;

/// <summary>
/// Adversarial review: the fuzzing fix (MeasurementValidation.ValidateBody's UTF-8 check) covers raw bad bytes only.
/// A body of pure ASCII, valid UTF-8 and valid JSON, whose string holds a lone surrogate escape (\ud800), passes the
/// check and JsonDocument.Parse, then JsonElement.GetString() throws InvalidOperationException: a 500 again.
/// </summary>
public sealed class LoneSurrogateTests
{
    private static readonly HttpClient Http = new();

    [Theory]
    [InlineData("{\"measurements\":[{\"uid\":\"\\ud800\",\"meter\":\"m\",\"account\":\"a\",\"ts\":\"2026-11-28T12:00:00Z\"}]}")]
    [InlineData("{\"measurements\":[{\"uid\":\"u\",\"meter\":\"m\",\"account\":\"\\udc00x\",\"ts\":\"2026-11-28T12:00:00Z\"}]}")]
    public void ValidateBody_OfALoneSurrogateEscape_IsAProblem_NotAnException(string json)
    {
        byte[] body = Encoding.ASCII.GetBytes(json);

        string? problem = MeasurementValidation.ValidateBody(body, DateTimeOffset.UtcNow, out List<M3terMeasurement> accepted);

        Assert.NotNull(problem);
        Assert.Empty(accepted);
    }

    [Fact]
    public async Task Ingest_OfALoneSurrogateEscape_Is400_Not500()
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        using var tokenRequest = new HttpRequestMessage(HttpMethod.Post, new Uri(m3ter.BaseAddress, "oauth/token"))
        {
            Content = new StringContent("{\"grant_type\":\"client_credentials\"}", Encoding.UTF8, "application/json"),
        };
        tokenRequest.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(m3ter.AccessKeyId + ":" + m3ter.ApiSecret)));
        using HttpResponseMessage tokenResponse = await Http.SendAsync(tokenRequest);
        using JsonDocument tokenBody = JsonDocument.Parse(await tokenResponse.Content.ReadAsStringAsync());
        string token = tokenBody.RootElement.GetProperty("access_token").GetString()!;

        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(m3ter.IngestBaseAddress, $"organizations/{m3ter.OrganizationId}/measurements"))
        {
            Content = new StringContent("{\"measurements\":[{\"uid\":\"\\ud800\",\"meter\":\"m\",\"account\":\"a\",\"ts\":\"2026-11-28T12:00:00Z\"}]}", Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);

        using HttpResponseMessage response = await Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }
    // Same class, in code this change did not touch (pre-existing): the token endpoint's grant_type check calls GetString().
    [Fact]
    public async Task TokenEndpoint_OfAGrantTypeWithALoneSurrogateEscape_Is400_Not500()
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        using var tokenRequest = new HttpRequestMessage(HttpMethod.Post, new Uri(m3ter.BaseAddress, "oauth/token"))
        {
            Content = new StringContent("{\"grant_type\":\"\\ud800\"}", Encoding.UTF8, "application/json"),
        };
        tokenRequest.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(m3ter.AccessKeyId + ":" + m3ter.ApiSecret)));

        using HttpResponseMessage response = await Http.SendAsync(tokenRequest);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }
}
