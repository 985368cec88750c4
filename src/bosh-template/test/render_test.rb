# frozen_string_literal: true

# Tests of the ERB renderer itself (render.rb): the BOSH helpers, property
# defaults, links, and the command line.

require 'minitest/autorun'
require 'json'
require 'open3'
require 'tmpdir'
require 'fileutils'
require_relative '../render'

class RenderTest < Minitest::Test
  RENDER = File.expand_path('../render.rb', __dir__)

  def setup
    @dir = Dir.mktmpdir('render-test')
    @job = File.join(@dir, 'job')
    FileUtils.mkdir_p(File.join(@job, 'templates'))
  end

  def teardown
    FileUtils.rm_rf(@dir)
  end

  def write_job(spec, templates, monit: nil)
    File.write(File.join(@job, 'spec'), spec.to_yaml)
    templates.each { |name, text| File.write(File.join(@job, 'templates', name), text) }
    File.write(File.join(@job, 'monit'), monit) if monit
  end

  def render(context)
    out = File.join(@dir, 'out')
    FileUtils.rm_rf(out)
    BoshTemplate.render_job(@job, context, out)
    Dir.glob('**/*', base: out).select { |f| File.file?(File.join(out, f)) }
       .to_h { |f| [f, File.read(File.join(out, f))] }
  end

  def one(template, properties: {}, spec: {}, links: {}, spec_properties: {}, consumes: [])
    write_job({ 'name' => 'j', 'templates' => { 't.erb' => 'out/t' },
                'properties' => spec_properties, 'consumes' => consumes }, { 't.erb' => template })
    render('properties' => properties, 'spec' => spec, 'links' => links)['out/t']
  end

  def test_p_reads_nested_properties_and_applies_spec_defaults
    props = { 'a.b' => {}, 'a.c' => { 'default' => 7 }, 'a.d' => { 'default' => [] } }
    text = one('<%= p("a.b") %> <%= p("a.c") %> <%= p("a.d").inspect %>',
               properties: { 'a' => { 'b' => 'x' } }, spec_properties: props)
    assert_equal 'x 7 []', text
  end

  def test_manifest_value_wins_over_default_even_when_false
    text = one('<%= p("f") %>', properties: { 'f' => false }, spec_properties: { 'f' => { 'default' => true } })
    assert_equal 'false', text
  end

  def test_undeclared_properties_are_not_given_to_the_job
    assert_raises(BoshTemplate::RenderError) do
      one('<%= p("secret") %>', properties: { 'secret' => 's' }, spec_properties: {})
    end
  end

  def test_p_with_default_and_list_of_names
    text = one('<%= p("x", "dflt") %>/<%= p(["y", "z"]) %>',
               properties: { 'z' => 'zed' }, spec_properties: { 'x' => {}, 'y' => {}, 'z' => {} })
    assert_equal 'dflt/zed', text
  end

  def test_p_of_unset_property_raises_with_its_name
    err = assert_raises(BoshTemplate::RenderError) { one('<%= p("n.m") %>', spec_properties: { 'n.m' => {} }) }
    assert_includes err.message, "Can't find property '[\"n.m\"]'"
    assert_includes err.message, "'t.erb'"
  end

  def test_if_p_yields_values_and_else_runs_only_when_unset
    props = { 'a' => {}, 'b' => {} }
    tpl = '<% if_p("a", "b") do |a, b| %>both <%= a %><%= b %><% end.else do %>not both<% end %>'
    assert_equal 'both 12', one(tpl, properties: { 'a' => 1, 'b' => 2 }, spec_properties: props)
    assert_equal 'not both', one(tpl, properties: { 'a' => 1 }, spec_properties: props)
  end

  def test_spec_fields
    spec = { 'id' => 'uuid-1', 'index' => 1, 'az' => 'z2', 'address' => 'a.bosh', 'ip' => '10.0.0.9',
             'deployment' => 'd', 'name' => 'ig', 'bootstrap' => false,
             'networks' => { 'default' => { 'ip' => '10.0.0.9' } } }
    text = one('<%= [spec.id, spec.index, spec.az, spec.address, spec.ip, spec.deployment, spec.name, ' \
               'spec.bootstrap, spec.networks.default.ip].join(",") %>', spec: spec)
    assert_equal 'uuid-1,1,z2,a.bosh,10.0.0.9,d,ig,false,10.0.0.9', text
  end

  def test_links
    links = { 'db' => { 'properties' => { 'port' => 5 }, 'address' => 'q-s0.db.bosh',
                        'instances' => [{ 'address' => '10.0.0.1', 'id' => 'i1', 'index' => 0, 'az' => 'z1',
                                          'name' => 'db', 'bootstrap' => true }] } }
    consumes = [{ 'name' => 'db', 'type' => 'db' }]
    tpl = '<%= link("db").p("port") %> <%= link("db").p("nope", 9) %> <%= link("db").address %> ' \
          '<%= link("db").instances.map(&:address).join %> <% link("db").if_p("port") do |v| %>has <%= v %><% end %>'
    assert_equal '5 9 q-s0.db.bosh 10.0.0.1 has 5', one(tpl, links: links, consumes: consumes)
  end

  def test_if_link_and_missing_link
    consumes = [{ 'name' => 'db', 'type' => 'db', 'optional' => true }]
    tpl = '<% if_link("db") do |l| %>linked <%= l.address %><% end.else do %>unlinked<% end %>'
    assert_equal 'linked x', one(tpl, links: { 'db' => { 'address' => 'x' } }, consumes: consumes)
    assert_equal 'unlinked', one(tpl, consumes: consumes)
    err = assert_raises(BoshTemplate::RenderError) { one('<%= link("db").address %>', consumes: consumes) }
    assert_includes err.message, "Can't find link 'db'"
  end

  def test_links_the_job_does_not_consume_are_not_visible
    tpl = '<% if_link("other") do %>seen<% end.else do %>unseen<% end %>'
    assert_equal 'unseen', one(tpl, links: { 'other' => { 'address' => 'x' } })
  end

  def test_link_properties_from_a_provider_spec
    write_job({ 'name' => 'srv', 'templates' => {},
                'provides' => [{ 'name' => 'srv', 'type' => 'srv', 'properties' => ['port', 'ca'] }],
                'properties' => { 'port' => { 'default' => 8 }, 'ca' => {}, 'secret' => {} } }, {})
    got = BoshTemplate.link_properties(@job, 'srv', { 'ca' => 'C', 'secret' => 'S' })
    assert_equal({ 'port' => 8, 'ca' => 'C' }, got)
  end

  def test_trim_mode_dash
    assert_equal "a\nb\n", one("a\n<% if true -%>\nb\n<% end -%>\n")
  end

  def test_renders_monit_and_every_template_with_modes
    write_job({ 'name' => 'j', 'templates' => { 'ctl.erb' => 'bin/ctl', 'c.erb' => 'config/c.json' },
                'properties' => { 'x' => { 'default' => 'v' } } },
              { 'ctl.erb' => '#!/bin/sh', 'c.erb' => '<%= p("x") %>' }, monit: 'check process <%= p("x") %>')
    out = File.join(@dir, 'out')
    BoshTemplate.render_job(@job, {}, out)
    assert_equal 'check process v', File.read(File.join(out, 'monit'))
    assert_equal 'v', File.read(File.join(out, 'config/c.json'))
    assert_equal 0o755, File.stat(File.join(out, 'bin/ctl')).mode & 0o777
  end

  def cli(*args)
    Open3.capture3('ruby', RENDER, *args)
  end

  def test_cli_renders_quietly
    write_job({ 'name' => 'j', 'templates' => { 'c.erb' => 'config/c' },
                'properties' => { 'x' => {} } }, { 'c.erb' => '<%= p("x") %>/<%= spec.id %>' })
    ctx = File.join(@dir, 'ctx.json')
    File.write(ctx, JSON.generate('properties' => { 'x' => 1 }, 'spec' => { 'id' => 'i' }))
    out = File.join(@dir, 'o')
    stdout, stderr, status = cli('--job-dir', @job, '--context', ctx, '--output-dir', out)
    assert status.success?, stderr
    assert_equal '', stdout
    assert_equal '', stderr
    assert_equal '1/i', File.read(File.join(out, 'config/c'))
  end

  def test_cli_names_the_failing_template_and_message
    write_job({ 'name' => 'j', 'templates' => { 'good.erb' => 'a', 'bad.erb' => 'b' }, 'properties' => {} },
              { 'good.erb' => 'ok', 'bad.erb' => '<% raise "thing.x must be set" %>' })
    ctx = File.join(@dir, 'ctx.json')
    File.write(ctx, '{}')
    stdout, stderr, status = cli('--job-dir', @job, '--context', ctx, '--output-dir', File.join(@dir, 'o'))
    refute status.success?
    assert_equal 1, status.exitstatus
    assert_equal '', stdout
    assert_includes stderr, "Error filling in template 'bad.erb': thing.x must be set"
  end

  def test_cli_usage_error
    _, stderr, status = cli('--job-dir', @job)
    assert_equal 2, status.exitstatus
    assert_includes stderr, 'usage:'
  end
end
