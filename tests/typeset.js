// Typeset each formula of a JSON list on stdin ({tex, display}) with the TeX input of npm's
// mathjax package, without the extensions that hide errors (noerrors, noundefined); print a JSON
// list with, per formula, MathJax's error message or null. Usage: node typeset.js MATHJAX_DIR
const items = JSON.parse(require('fs').readFileSync(0, 'utf8'));
require(`${process.argv[2]}/es5/node-main.js`).init({
  loader: {load: ['input/tex-full', 'output/svg']},
  tex: {
    packages: {'[-]': ['noerrors', 'noundefined']},
    tags: 'ams',
    formatError: (jax, error) => { throw error; },
  },
  startup: {typeset: false},
}).then((MathJax) => {
  const errors = items.map(({tex, display}) => {
    try {
      MathJax.tex2svg(tex, {display});
      return null;
    } catch (error) {
      return error.message;
    } finally {
      MathJax.texReset();
    }
  });
  console.log(JSON.stringify(errors));
}).catch((error) => {
  console.error(error);
  process.exit(1);
});
